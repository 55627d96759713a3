package server

import (
	"bytes"
	"compress/gzip"
	"context"
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

// TestProfilerOutlastsWriteTimeout: a CPU profile that ends just before
// the server's WriteTimeout is not cut by it while it is written out, as
// with net/http/pprof.
func TestProfilerOutlastsWriteTimeout(t *testing.T) {
	srv := httptest.NewUnstartedServer(Profiler())
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/debug/pprof/profile?seconds=0.29")
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

// TestProfilerSeconds: ?seconds= is a finite number above zero and below
// the server's write timeout; anything else is a prompt 400 naming the
// limit, never a dropped connection or a profile that holds the profiler
// for ever.
func TestProfilerSeconds(t *testing.T) {
	srv := httptest.NewUnstartedServer(Profiler())
	srv.Config.WriteTimeout = 2 * time.Second
	srv.Start()
	defer srv.Close()
	for _, q := range []string{"NaN", "Inf", "-Inf", "1e300", "9.3e9", "999999", "2", "-1", "0", "abc", "0x10", "%00"} {
		for _, name := range []string{"profile", "trace"} {
			t.Run(name+"?seconds="+q, func(t *testing.T) {
				start := time.Now()
				resp, err := srv.Client().Get(srv.URL + "/debug/pprof/" + name + "?seconds=" + q)
				if err != nil {
					t.Fatal(err) // before the bound: an empty reply
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "2s") {
					t.Errorf("%s %q, want 400 naming the 2s limit", resp.Status, body)
				}
				if took := time.Since(start); took > time.Second {
					t.Errorf("answered after %v", took)
				}
			})
		}
	}
}

// TestStopProfiles: a profile in progress ends when the StopProfiles
// context ends (the shutdown began), with the profile so far; a new one
// is refused with a 503.
func TestStopProfiles(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv := httptest.NewServer(Profiler(StopProfiles(ctx)))
	defer srv.Close()
	type result struct {
		resp *http.Response
		body []byte
		took time.Duration
		err  error
	}
	res := make(chan result, 1)
	start := time.Now()
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/debug/pprof/profile?seconds=50")
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		}
		res <- result{resp, body, time.Since(start), err}
	}()
	time.Sleep(200 * time.Millisecond) // the profile is under way
	cancel()
	r := <-res
	if r.err != nil || r.resp.StatusCode != http.StatusOK {
		t.Fatalf("%v %v", r.resp, r.err)
	}
	if _, err := gzip.NewReader(bytes.NewReader(r.body)); err != nil {
		t.Errorf("not a profile: %v", err)
	}
	if r.took > 2*time.Second {
		t.Errorf("a 50s profile ended %v after it began, want soon after the stop", r.took)
	}
	resp, err := srv.Client().Get(srv.URL + "/debug/pprof/trace?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a trace after the stop: %s, want 503", resp.Status)
	}
}
