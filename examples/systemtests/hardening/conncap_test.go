//go:build linux

package hardening_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
	"github.com/prodready/prodready/internal/testenv"
)

// TestConnCapKeepsProbes: catalog under prlimit --nofile=256 and a client
// holding 300 idle keep-alive connections to its traffic port, then as
// many requests in flight as the cap allows. /livez on the admin port
// answers 200 in under a second all along; a new traffic connection is
// served while idle ones can make room, and gets a prompt 503 once none
// can. Without the cap (server.Limit in catalog's main.go), the
// idle connections take every descriptor and /livez times out, as
// server.TestProcessWithoutCap shows.
func TestConnCapKeepsProbes(t *testing.T) {
	const (
		nofile  = 256
		idle    = 300
		wantCap = 128 // server.DefaultMaxConns of 256 descriptors
		bound   = time.Second
	)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		testenv.Missing(t, "prlimit", "apt-get install util-linux")
	}
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	client := e2e.NewClient(t, 10*time.Second)
	proc := e2e.Start(t, "catalog", prlimit, []string{"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "GRPC_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN_DELAY=0s"},
		"--nofile=256", bin.checked.Catalog)
	e2e.WaitStatus(t, client, "http://"+admin+"/readyz", http.StatusOK, e2e.ReadyWithin)
	start := proc.WaitLines(func(l map[string]any) bool { return l["msg"] == "starting" }, 1, 5*time.Second)[0]
	if start["max_conns"] != float64(wantCap) {
		t.Fatalf("catalog logged max_conns %v with %d descriptors, want %d", start["max_conns"], nofile, wantCap)
	}

	// Probes on new connections, as kubelet's, back to back all along.
	probe := &http.Client{Timeout: bound, Transport: &http.Transport{DisableKeepAlives: true}}
	stop := make(chan struct{})
	var mu sync.Mutex
	var probes int
	var slowest time.Duration
	var fails []string
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			began := time.Now()
			code, _, err := e2e.Get(probe, "http://"+admin+"/livez", nil)
			took := time.Since(began)
			mu.Lock()
			probes++
			slowest = max(slowest, took)
			if err != nil || code != http.StatusOK {
				fails = append(fails, err.Error())
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
		t.Logf("/livez: %d probes, the slowest %v", probes, slowest.Round(time.Millisecond))
		if len(fails) > 0 || slowest >= bound {
			t.Errorf("/livez failed %d of %d probes (slowest %v): %v", len(fails), probes, slowest, fails)
		}
	}()

	get := func(path string) (*http.Response, error) {
		c, err := net.DialTimeout("tcp", addr, bound)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		defer func() { _ = c.SetDeadline(time.Time{}) }()
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: catalog\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && path == "/products" {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		return resp, err
	}

	for i := range idle {
		if resp, err := get("/products"); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("keep-alive connection %d: %v %v", i, resp, err)
		}
	}
	// /work writes nothing until it is done: send the requests and wait
	// until catalog counts them all in flight.
	for i := range wantCap {
		c, err := net.DialTimeout("tcp", addr, bound)
		if err != nil {
			t.Fatalf("request in flight %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, "GET /work?duration=20s HTTP/1.1\r\nHost: catalog\r\n\r\n"); err != nil {
			t.Fatalf("request in flight %d: %v", i, err)
		}
	}
	// Each of them is either in flight or was refused by catalog's
	// admission (20s requests are far past its latency goal, so its limit
	// may stop short of the connection cap): the refused ones got their
	// 503 and stay open, kept alive, holding their connection all the same.
	inFlight := `http_requests_in_flight{method="GET"}`
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, series := scrape(t, client, "http://"+admin+"/metrics")
		shed := 0.0
		for name, v := range series {
			if strings.HasPrefix(name, "server_admission_refusals_total{") {
				shed += v
			}
		}
		if series[inFlight]+shed == wantCap {
			t.Logf("%v in flight, %v refused by admission", series[inFlight], shed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v and %v refused after 10s, want %d together", inFlight, series[inFlight], shed, wantCap)
		}
		time.Sleep(20 * time.Millisecond)
	}
	began := time.Now()
	resp, err := get("/products")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || time.Since(began) >= bound {
		t.Errorf("a new connection at the cap: %v %v after %v, want a 503 within %v", resp, err, time.Since(began), bound)
	} else {
		t.Logf("a new connection at the cap: %s after %v", resp.Status, time.Since(began).Round(time.Millisecond))
	}
}
