//go:build linux

package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// secretEnv names the file the admin child reads on GET /secret: a
// secret file re-read as secrets.Watch does, which needs a descriptor.
const secretEnv = "PRODREADY_SERVER_TEST_SECRET"

// adminChild serves a traffic port capped with the default cap (GET /,
// GET /secret) and an admin port (GET /livez) capped with MaxAdminConns
// in mode "admin-capped", uncapped in "admin-uncapped", as every service
// served it before; otherwise like child.
func adminChild(mode string) int {
	traffic := http.NewServeMux()
	traffic.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	traffic.HandleFunc("GET /secret", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.ReadFile(os.Getenv(secretEnv)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "read\n")
	})
	admin := http.NewServeMux()
	admin.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv, adminSrv := New("", traffic), New("", admin)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var servedAdmin net.Listener = aln
	if mode == "admin-capped" {
		servedAdmin = Limit(adminSrv, aln, MaxAdminConns)
	}
	go func() { _ = srv.Serve(Limit(srv, ln, 0)) }()
	go func() { _ = adminSrv.Serve(servedAdmin) }()
	fmt.Printf("traffic=%s admin=%s max=%d\n", ln.Addr(), aln.Addr(), DefaultMaxConns())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// holdAdminKeepAlives opens idleConns connections to the admin port, each
// used for one GET /livez and then held idle, and returns how many were
// answered. After three unanswered in a row the process accepts no more
// (the kernel still completes the handshakes): the rest are not tried.
func holdAdminKeepAlives(t *testing.T, p *proc) (answered, tried int) {
	t.Helper()
	for missed := 0; tried < idleConns && missed < 3; tried++ {
		c := dialRaw(t, p.admin)
		if resp, err := c.get("/livez", time.Second); err == nil && resp.StatusCode == http.StatusOK {
			answered++
			missed = 0
		} else {
			missed++
		}
	}
	return answered, tried
}

// afterAdminFlood checks, each on a new connection within probeBound,
// /livez, the traffic port and a secret file read by the process, and
// returns what failed.
func afterAdminFlood(p *proc) (fails []string) {
	c := &http.Client{Timeout: probeBound, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, url := range []string{"http://" + p.admin + "/livez", "http://" + p.traffic + "/", "http://" + p.traffic + "/secret"} {
		start := time.Now()
		if err := getOK(c, url); err != nil {
			fails = append(fails, fmt.Sprintf("%s: %v after %v", url, err, time.Since(start).Round(time.Millisecond)))
		}
	}
	return fails
}

func secretFile(t *testing.T) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("s3cret-token-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(secretEnv, path) // the child inherits it
}

// TestProcessAdminCap: under prlimit --nofile=256, a client holds 300 idle
// keep-alive connections to the admin port. The admin port's cap closes
// the longest idle ones to make room, inside the headroom the traffic
// port's cap leaves, so the process never runs out of descriptors: each
// of the 300 is answered, and then /livez, the traffic port and a secret
// file read all succeed within a second.
func TestProcessAdminCap(t *testing.T) {
	secretFile(t)
	p := startChild(t, "admin-capped")
	pr := startProber(t, p.admin)
	if n, _ := holdAdminKeepAlives(t, p); n != idleConns {
		t.Errorf("%d of %d admin connections answered", n, idleConns)
	}
	if fails := afterAdminFlood(p); len(fails) > 0 {
		t.Errorf("with %d idle admin connections held: %v", idleConns, fails)
	}
	pr.check(t)
}

// TestProcessAdminUncapped is the fault, reproduced by the same client:
// with the admin port uncapped, its idle connections take every
// descriptor the traffic port's cap left, and the process can accept
// nothing and open no file.
func TestProcessAdminUncapped(t *testing.T) {
	secretFile(t)
	p := startChild(t, "admin-uncapped")
	n, tried := holdAdminKeepAlives(t, p)
	fails := afterAdminFlood(p)
	t.Logf("admin port uncapped: %d of %d connections answered; then %d of 3 checks failed: %v", n, tried, len(fails), fails)
	if len(fails) == 0 {
		t.Error("everything answered: the fault did not reproduce")
	}
}
