//go:build linux

package hardening_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
	"github.com/prodready/prodready/internal/testenv"
)

// TestAdminConnCapKeepsProbes: catalog under prlimit --nofile=256 and a
// client holding 300 idle keep-alive connections to its admin port (each
// after one GET /livez). The admin port's own cap (server.MaxAdminConns,
// inside the traffic cap's headroom) closes the longest idle ones to make
// room, so the process never runs out of descriptors: afterwards /livez
// and the traffic port answer within a second, and a rotated admin token
// file is still read (the new token opens /debug/health). Before, with
// the admin port uncapped, 243 such connections took every descriptor:
// both ports timed out (accept4: too many open files) and the token file
// could no longer be re-read.
func TestAdminConnCapKeepsProbes(t *testing.T) {
	const (
		idle  = 300
		bound = time.Second
	)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		testenv.Missing(t, "prlimit", "apt-get install util-linux")
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeToken := func(tok string) {
		t.Helper()
		tmp := filepath.Join(dir, ".token.tmp")
		if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, tokenFile); err != nil { // rename over: a new inode, as a rotation writes it
			t.Fatal(err)
		}
	}
	const oldToken, newToken = "old-admin-token-0123456789abcdef", "new-admin-token-fedcba9876543210"
	writeToken(oldToken)
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	client := e2e.NewClient(t, 10*time.Second)
	e2e.Start(t, "catalog", prlimit, []string{"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "GRPC_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN_DELAY=0s", "ADMIN_TOKEN_FILE=" + tokenFile},
		"--nofile=256", bin.checked.Catalog)
	e2e.WaitStatus(t, client, "http://"+admin+"/readyz", http.StatusOK, e2e.ReadyWithin)

	answered := 0
	for missed := 0; answered+missed < idle && missed < 3; {
		c, err := net.DialTimeout("tcp", admin, bound)
		if err != nil {
			missed++
			continue
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(bound))
		resp, err := func() (*http.Response, error) {
			if _, err := io.WriteString(c, "GET /livez HTTP/1.1\r\nHost: catalog\r\n\r\n"); err != nil {
				return nil, err
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
			}
			return resp, err
		}()
		if err != nil || resp.StatusCode != http.StatusOK {
			missed++
			continue
		}
		missed = 0
		answered++
	}
	t.Logf("%d of the admin keep-alive connections answered", answered)
	if answered != idle {
		t.Errorf("%d of %d admin connections answered", answered, idle)
	}

	probe := &http.Client{Timeout: bound, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, url := range []string{"http://" + admin + "/livez", "http://" + addr + "/products"} {
		start := time.Now()
		if code, _, err := e2e.Get(probe, url, nil); err != nil || code != http.StatusOK {
			t.Errorf("GET %s with %d idle admin connections held: %d %v after %v", url, idle, code, err, time.Since(start))
		}
	}
	writeToken(newToken)
	header := http.Header{"Authorization": {"Bearer " + newToken}}
	ok := false
	for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, _, err := e2e.Get(probe, "http://"+admin+"/debug/health", header)
		ok = err == nil && code == http.StatusOK
	}
	if !ok {
		t.Error("the rotated admin token was not read within 5s: the process could not open the file")
	}
}
