package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

func TestParseWrk(t *testing.T) {
	out := []byte(`Running 4s test @ http://127.0.0.1:8080/products/p1
  1 threads and 64 connections
  1000 requests in 4.00s, 300.00KB read
  Non-2xx or 3xx responses: 3
Requests/sec:    250.00
prodready-load: 1000 4000000 0 1 0 3 2 1500 12250
`)
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 1000 || r.Seconds != 4 || r.Errors != 6 || r.P50ms != 1.5 || r.P99ms != 12.25 || r.RPS() != 250 {
		t.Errorf("%+v", r)
	}
	for _, bad := range []string{"Requests/sec: 1\n", "prodready-load: 1 2 3\n", "prodready-load: 1 2 3 4 5 6 7 8 x\n"} {
		if _, err := parseWrk([]byte(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

// TestWrk runs the real wrk, with the Lua report, against a server that
// answers one request in four with a 404.
func TestWrk(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		testenv.Missing(t, "wrk", "apt-get install -y wrk")
	}
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1)%4 == 0 {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path != "/products/p1" || r.UserAgent() != "wrk/4" {
			t.Errorf("path %q, user agent %q", r.URL.Path, r.UserAgent())
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	g, err := newWrk(t.TempDir(), func(c *exec.Cmd) *exec.Cmd { return c })
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.run(context.Background(), strings.TrimPrefix(srv.URL, "http://"), "/products/p1", 4, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || int64(r.Requests) > served.Load() || r.Errors < r.Requests/5 || r.Errors > r.Requests/3 {
		t.Errorf("%+v with %d served", r, served.Load())
	}
	if r.Seconds < 0.9 || r.Seconds > 5 || r.P50ms <= 0 || r.P99ms < r.P50ms {
		t.Errorf("%+v", r)
	}
	if c := g.command("127.0.0.1:PORT", "/p", 64, 4*time.Second); c != "wrk -t1 -c64 -d4s --timeout 5s -H 'User-Agent: wrk/4' -s report.lua http://127.0.0.1:PORT/p" {
		t.Errorf("command %q", c)
	}
}
