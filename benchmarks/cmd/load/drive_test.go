package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

func TestDrive(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		chunked    bool
		wantErrors bool
	}{
		{"200 with length", http.StatusOK, false, false},
		{"200 chunked", http.StatusOK, true, false},
		{"404 counts as an error", http.StatusNotFound, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var served atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				if r.URL.Path != "/products/p1" {
					t.Errorf("path %q", r.URL.Path)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(strings.Repeat("x", 100)))
				if tt.chunked {
					w.(http.Flusher).Flush()
					w.Write([]byte("more"))
				}
			}))
			defer srv.Close()
			addr := strings.TrimPrefix(srv.URL, "http://")
			r, err := drive(addr, "/products/p1", 4, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if r.requests == 0 || int64(r.requests) > served.Load() {
				t.Errorf("%d requests measured, %d served", r.requests, served.Load())
			}
			if (r.errors > 0) != tt.wantErrors || len(r.latency) != r.requests {
				t.Errorf("%d errors, %d latencies, %d requests", r.errors, len(r.latency), r.requests)
			}
			if r.elapsed < 200*time.Millisecond || r.elapsed > 5*time.Second {
				t.Errorf("elapsed %v", r.elapsed)
			}
		})
	}
}

func TestDriveFailsWithNoServer(t *testing.T) {
	if _, err := drive("127.0.0.1:1", "/", 2, 50*time.Millisecond); err == nil {
		t.Error("no error for a refused connection")
	}
}

func TestDriveCmd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	var out strings.Builder
	if err := driveCmd([]string{"-addr", strings.TrimPrefix(srv.URL, "http://"), "-path", "/x", "-c", "2", "-d", "100ms"}, &out); err != nil {
		t.Fatal(err)
	}
	var r results.Round
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if r.Requests == 0 || r.Errors != 0 || r.Seconds < 0.1 || r.P99ms < r.P50ms || r.P50ms <= 0 {
		t.Errorf("%+v", r)
	}
	if err := driveCmd([]string{"-c", "2"}, &out); err == nil {
		t.Error("no error without -addr")
	}
}
