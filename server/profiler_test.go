package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestProfiler: each endpoint through a real server, as go tool pprof
// fetches it. Binary profiles are gzipped protobuf (pprof's format),
// text ones readable, the timed ones last what ?seconds= says.
func TestProfiler(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /debug/pprof/", Profiler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		path       string
		wantStatus int
		wantType   string
		gzipped    bool   // a pprof protobuf profile
		wantBody   string // a substring of a text body
	}{
		{"/debug/pprof/", http.StatusOK, "text/plain; charset=utf-8", false, "goroutine"},
		{"/debug/pprof/heap", http.StatusOK, "application/octet-stream", true, ""},
		{"/debug/pprof/heap?gc=1", http.StatusOK, "application/octet-stream", true, ""},
		{"/debug/pprof/allocs", http.StatusOK, "application/octet-stream", true, ""},
		{"/debug/pprof/goroutine?debug=1", http.StatusOK, "text/plain; charset=utf-8", false, "goroutine profile: total"},
		{"/debug/pprof/goroutine?debug=2", http.StatusOK, "text/plain; charset=utf-8", false, "goroutine "},
		{"/debug/pprof/threadcreate?debug=1", http.StatusOK, "text/plain; charset=utf-8", false, "threadcreate profile"},
		{"/debug/pprof/profile?seconds=0.2", http.StatusOK, "application/octet-stream", true, ""},
		{"/debug/pprof/trace?seconds=0.2", http.StatusOK, "application/octet-stream", false, "go 1."},
		{"/debug/pprof/nosuch", http.StatusNotFound, "text/plain; charset=utf-8", false, "unknown profile"},
		{"/debug/pprof/heap?seconds=5", http.StatusBadRequest, "text/plain; charset=utf-8", false, "delta profiles"},
		{"/debug/pprof/cmdline", http.StatusNotFound, "text/plain; charset=utf-8", false, "unknown profile"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := srv.Client().Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("Content-Type") != tt.wantType {
				t.Fatalf("%s %q, want %d %q: %.200s", resp.Status, resp.Header.Get("Content-Type"), tt.wantStatus, tt.wantType, body)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if tt.gzipped {
				if _, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
					t.Errorf("not a gzipped profile: %v", err)
				}
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body lacks %q: %.200s", tt.wantBody, body)
			}
		})
	}
}

// TestProfilerRegistersNothing: unlike net/http/pprof, linking this
// package puts nothing on http.DefaultServeMux.
func TestProfilerRegistersNothing(t *testing.T) {
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile", "/debug/pprof/heap"} {
		if _, pattern := http.DefaultServeMux.Handler(httptest.NewRequest(http.MethodGet, path, nil)); pattern != "" {
			t.Errorf("http.DefaultServeMux serves %s (pattern %q)", path, pattern)
		}
	}
}

// TestProfilerOutlastsWriteTimeout: a CPU profile longer than the
// server's WriteTimeout is not cut by it, as with net/http/pprof.
func TestProfilerOutlastsWriteTimeout(t *testing.T) {
	srv := httptest.NewUnstartedServer(Profiler())
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/debug/pprof/profile?seconds=0.3")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s, %v", resp.Status, err)
	}
	if _, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
		t.Errorf("cut profile: %v", err)
	}
}
