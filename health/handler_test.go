package health

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path) // #nosec G304 -- test fixture path
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("body differs from %s\n got: %s\nwant: %s", path, got, want)
	}
}

func TestHandler(t *testing.T) {
	db := reg{Readiness, "db", passing, nil}
	cache := reg{Readiness, "cache", passing, nil}
	dbDown := reg{Readiness, "db", failing, nil}
	tests := []struct {
		name     string
		opts     []Option
		regs     []reg
		drain    bool
		method   string
		target   string
		wantCode int
		wantType string
		golden   string // "" for no body
	}{
		{"all pass", nil, []reg{db, cache}, false, "GET", "/readyz", 200, mediaType, "pass.json"},
		{"critical fails, reason hidden", nil, []reg{dbDown, cache}, false, "GET", "/readyz", 503, mediaType, "fail_hidden.json"},
		{"critical fails, reason shown", []Option{ShowReasons(true)}, []reg{dbDown, cache}, false, "GET", "/readyz", 503, mediaType, "fail_shown.json"},
		{"non-critical fails", []Option{ShowReasons(true)}, []reg{{Readiness, "db", failing, []CheckOption{Critical(false)}}, cache}, false, "GET", "/readyz", 200, mediaType, "warn.json"},
		{"exclude failing", nil, []reg{dbDown, cache}, false, "GET", "/readyz?exclude=db", 200, mediaType, "exclude.json"},
		{"exclude list", nil, []reg{dbDown, cache}, false, "GET", "/readyz?exclude=db,cache", 200, mediaType, "empty.json"},
		{"exclude repeated", nil, []reg{dbDown, cache}, false, "GET", "/readyz?exclude=db&exclude=cache", 200, mediaType, "empty.json"},
		{"exclude unknown", nil, []reg{dbDown, cache}, false, "GET", "/readyz?exclude=nope", 503, mediaType, "fail_hidden.json"},
		{"one check", nil, []reg{dbDown, cache}, false, "GET", "/readyz/cache", 200, mediaType, "one.json"},
		{"one failing check", nil, []reg{dbDown, cache}, false, "GET", "/readyz/db", 503, mediaType, "one_fail.json"},
		{"unknown check", nil, []reg{db}, false, "GET", "/readyz/nope", 404, "text/plain; charset=utf-8", "not_found.txt"},
		{"HEAD", nil, []reg{db, cache}, false, "HEAD", "/readyz", 200, mediaType, ""},
		{"HEAD failing", nil, []reg{dbDown}, false, "HEAD", "/readyz", 503, mediaType, ""},
		{"no checks", nil, nil, false, "GET", "/livez", 200, mediaType, "empty.json"},
		{"draining", []Option{ShowReasons(true)}, []reg{db}, true, "GET", "/readyz", 503, mediaType, "draining.json"},
		{"draining, one check", nil, []reg{db}, true, "GET", "/readyz/db", 503, mediaType, "draining.json"},
		{"draining leaves liveness", nil, []reg{{Liveness, "loop", passing, nil}}, true, "GET", "/livez", 200, mediaType, "live.json"},
		{"startup fails", []Option{ShowReasons(true)}, []reg{{Startup, "migrations", failing, nil}}, false, "GET", "/startupz", 503, mediaType, "startup_fail.json"},
		{"panic", []Option{ShowReasons(true)}, []reg{{Readiness, "bad", panicking, nil}}, false, "GET", "/readyz", 503, mediaType, "panic.json"},
		{"interval before Start", []Option{ShowReasons(true)}, []reg{{Readiness, "db", passing, []CheckOption{Interval(time.Second)}}}, false, "GET", "/readyz", 503, mediaType, "pending.json"},
		{"liveness before Start", []Option{ShowReasons(true)}, []reg{{Liveness, "loop", failing, []CheckOption{Interval(time.Second)}}}, false, "GET", "/livez", 200, mediaType, "live_pending.json"},
		{"invalid name", []Option{ShowReasons(true)}, []reg{{Readiness, "a/b", passing, nil}}, false, "GET", "/readyz", 503, mediaType, "invalid.json"},
		{"nil check", []Option{ShowReasons(true)}, []reg{{Readiness, "db", nil, nil}}, false, "GET", "/readyz", 503, mediaType, "nil.json"},
		{"escaped name", []Option{ShowReasons(true)}, []reg{{Readiness, "q\"\n\x01é", failing, nil}}, false, "GET", "/readyz", 503, mediaType, "escaped.json"},
		{"POST", nil, []reg{db}, false, "POST", "/readyz", 405, "text/plain; charset=utf-8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Fake time: every run takes 0s and ends at 2000-01-01T00:00:00Z,
			// so the bodies are exact.
			synctest.Test(t, func(t *testing.T) {
				c := New(append([]Option{quiet()}, tt.opts...)...)
				register(c, tt.regs)
				if tt.drain {
					c.Drain()
				}
				mux := http.NewServeMux()
				c.Mount(mux)
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))

				if rec.Code != tt.wantCode {
					t.Errorf("code = %d, want %d", rec.Code, tt.wantCode)
				}
				if got := rec.Header().Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
				if tt.wantCode != 405 && rec.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", rec.Header().Get("Cache-Control"))
				}
				body, _ := io.ReadAll(rec.Body)
				if tt.golden == "" {
					if tt.method == "HEAD" && len(body) != 0 {
						t.Errorf("HEAD body = %q, want none", body)
					}
					return
				}
				golden(t, tt.golden, body)
			})
		})
	}
}

// Handler, used without Mount, refuses methods other than GET and HEAD
// and kinds that do not exist.
func TestHandlerDirect(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		method    string
		wantCode  int
		wantAllow string
	}{
		{"GET", Readiness, "GET", 200, ""},
		{"HEAD", Liveness, "HEAD", 200, ""},
		{"DELETE", Readiness, "DELETE", 405, "GET, HEAD"},
		{"unknown kind", Kind(7), "GET", 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(quiet())
			c.AddReadiness("db", passing)
			rec := httptest.NewRecorder()
			c.Handler(tt.kind).ServeHTTP(rec, httptest.NewRequest(tt.method, "/anything", nil))
			if rec.Code != tt.wantCode {
				t.Errorf("code = %d, want %d", rec.Code, tt.wantCode)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

// The header values are shared between responses: what one response's
// middleware adds must not reach the next.
func TestSharedHeaderValues(t *testing.T) {
	h := New(quiet()).Handler(Liveness)
	first := httptest.NewRecorder()
	h.ServeHTTP(first, httptest.NewRequest("GET", "/livez", nil))
	first.Header().Add("Cache-Control", "private")
	first.Header().Add("Content-Type", "charset=utf-8")
	second := httptest.NewRecorder()
	h.ServeHTTP(second, httptest.NewRequest("GET", "/livez", nil))
	tests := []struct {
		key  string
		want string
	}{
		{"Cache-Control", "no-store"},
		{"Content-Type", mediaType},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := second.Header().Values(tt.key); len(got) != 1 || got[0] != tt.want {
				t.Errorf("%s = %q, want [%q]", tt.key, got, tt.want)
			}
		})
	}
}

// BenchmarkReadyz: one GET /readyz with three passing checks, read from the
// Interval results and run on demand. benchmarks/health_test.go compares
// it with other libraries.
func BenchmarkReadyz(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []CheckOption
	}{
		{"cached", []CheckOption{Interval(time.Hour)}},
		{"on-demand", nil},
	} {
		b.Run(mode.name, func(b *testing.B) {
			c := New(quiet())
			for _, n := range []string{"cache", "db", "search"} {
				c.AddReadiness(n, passing, mode.opts...)
			}
			c.Start(b.Context())
			h := c.Handler(Readiness)
			r := httptest.NewRequest(http.MethodGet, "/readyz", nil)
			for {
				rec := httptest.NewRecorder()
				if h.ServeHTTP(rec, r); rec.Code == http.StatusOK {
					break
				}
				time.Sleep(time.Millisecond) // the first Interval runs are in flight
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK {
					b.Fatalf("code %d", rec.Code)
				}
			}
		})
	}
}
