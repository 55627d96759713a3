package request_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prodready/prodready"
	"github.com/prodready/prodready/internal/request"
)

// get sends one request to srv and drains the response.
func get(t *testing.T, srv *httptest.Server, path string) int {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

// captureWarnings sends slog.Default to a buffer for the test and lets the
// once-per-process route warning be logged again.
func captureWarnings(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	request.ResetRouteWarning()
	t.Cleanup(func() {
		slog.SetDefault(prev)
		request.ResetRouteWarning()
	})
	return &buf
}

func itemsMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "item") })
	return mux
}

// TestRouteBehindUserMiddleware is the most common real stack: an auth
// middleware that calls r.WithContext between prodready's and the mux.
// Without Routes the pattern cannot reach prodready's layers: they agree
// on "unmatched" and the first matched response warns, once, naming the
// fix; the fix gives the route. A 404 is unmatched and warns nobody.
func TestRouteBehindUserMiddleware(t *testing.T) {
	t.Run("without Routes", func(t *testing.T) {
		warnings := captureWarnings(t)
		serve := func(s *stack) *httptest.Server {
			srv := httptest.NewServer(s.standard(withValue(itemsMux())))
			t.Cleanup(srv.Close)
			return srv
		}
		s := newStack(t)
		if code := get(t, serve(s), "/nowhere"); code != http.StatusNotFound {
			t.Fatalf("status %d, want 404", code)
		}
		s.agree(t, record{request.Unmatched, "404", ""}, true)
		if warnings.Len() != 0 {
			t.Fatalf("a 404 warned: %s", warnings)
		}
		s = newStack(t)
		srv := serve(s)
		get(t, srv, "/items/1")
		s.agree(t, ok(request.Unmatched, 200), true)
		get(t, srv, "/items/2")
		get(t, srv, "/items/3")
		if warnings.Len() != 0 {
			t.Errorf("the route warning went to slog.Default, not the service's logger: %s", warnings)
		}
		var found []map[string]any
		for _, l := range s.logs.JSON(t) {
			if msg, _ := l["msg"].(string); strings.Contains(msg, "prodready.Routes(mux)") {
				found = append(found, l)
			}
		}
		if len(found) != 1 {
			t.Fatalf("the route warning appeared %d times in the service's JSON log, want once:\n%s", len(found), s.logs)
		}
		w := found[0]
		if w["level"] != "warn" || w["status"] != float64(200) || !strings.Contains(w["msg"].(string), "chi.RouteContext") ||
			!strings.Contains(w["msg"].(string), "mux.CurrentRoute") {
			t.Errorf("warning %v: want level warn, status 200 and the fix for ServeMux, chi and gorilla/mux", w)
		}
	})
	t.Run("with Routes", func(t *testing.T) {
		warnings := captureWarnings(t)
		s := newStack(t)
		srv := httptest.NewServer(s.standard(withValue(prodready.Routes(itemsMux()))))
		defer srv.Close()
		get(t, srv, "/items/1")
		s.agree(t, ok("/items/{id}", 200), true)
		if warnings.Len() != 0 {
			t.Errorf("warned with Routes in place: %s", warnings)
		}
	})
}

// TestNestedMux mounts a mux beneath another with http.StripPrefix: the
// outer pattern alone is "/api/"; Routes around the inner mux gives the
// whole template.
func TestNestedMux(t *testing.T) {
	bare := func(h http.Handler) http.Handler { return h }
	unmatched := func(status int) record { return record{request.Unmatched, fmt.Sprint(status), ""} }
	tests := []struct {
		name         string
		inner        func(http.Handler) http.Handler
		method, path string
		want         record
	}{
		{"inner mux bare", bare, "GET", "/api/v1/items/7", ok("/api/", 200)},
		{"inner mux in Routes", prodready.Routes, "GET", "/api/v1/items/7", ok("/api/v1/items/{id}", 200)},
		// The innermost Routes decides a miss too: not the outer "/api/",
		// which the outer mux wrote where tracing sees it.
		{"inner mux in Routes, not found", prodready.Routes, "GET", "/api/v1/nope", unmatched(404)},
		{"inner mux in Routes, method not allowed", prodready.Routes, "POST", "/api/v1/items/7", unmatched(405)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			inner := http.NewServeMux()
			inner.HandleFunc("GET /v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, r.PathValue("id"))
			})
			outer := http.NewServeMux()
			outer.Handle("/api/", http.StripPrefix("/api", tt.inner(inner)))
			srv := httptest.NewServer(s.standard(outer))
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			s.agree(t, tt.want, true)
		})
	}
}

// TestRouteFuncBadInput: a route function that panics, or returns a value
// too long or not printable, never costs the request its answer, and the
// label never carries the value.
func TestRouteFuncBadInput(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*http.Request) string
		want string
	}{
		{"panics", func(*http.Request) string { panic("route function bug") }, request.Unmatched},
		{"too long", func(*http.Request) string { return "/" + strings.Repeat("a", 10<<10) }, request.Invalid},
		{"control bytes", func(*http.Request) string { return "/items/\n{id}" }, request.Invalid},
		{"not ASCII", func(*http.Request) string { return "/items/\xff" }, request.Invalid},
		{"empty", func(*http.Request) string { return "" }, request.Unmatched},
		{"fine", func(*http.Request) string { return "/items/{id}" }, "/items/{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			h := s.standard(withValue(request.RouteFunc(tt.fn)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "answer")
			}))))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/items/1", nil))
			if rec.Code != 200 || rec.Body.String() != "answer" {
				t.Fatalf("answer %d %q", rec.Code, rec.Body)
			}
			s.agree(t, ok(tt.want, 200), true)
		})
	}
}

// TestRouteFuncMountNotFound: a 404 or 405 whose route is a mount
// pattern ("/api/*", chi's name for a subrouter that matched nothing
// beneath it) is unmatched; a 404 a handler wrote on a real route keeps
// its route.
func TestRouteFuncMountNotFound(t *testing.T) {
	tests := []struct {
		name   string
		route  string
		status int
		want   string
	}{
		{"404 under a mount", "/api/v1/*", 404, request.Unmatched},
		{"405 under a mount", "/api/v1/*", 405, request.Unmatched},
		{"404 from a handler", "/items/{id}", 404, "/items/{id}"},
		{"200 from a catch-all", "/static/*", 200, "/static/*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			h := s.standard(request.RouteFunc(func(*http.Request) string { return tt.route })(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
			})))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/x", nil))
			want := ok(tt.want, tt.status)
			s.agree(t, want, true)
		})
	}
}
