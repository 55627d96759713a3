package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discard is the cheapest ResponseWriter, so that the benchmark measures
// the middleware and not the recorder.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
func (discard) Flush()                      {}

var _ http.Flusher = discard{}

// BenchmarkMiddleware: "handler" is the floor (the mux and its handler),
// "shared state" adds the request state that the first of prodready's
// middlewares creates; the others are this package on top of those.
func BenchmarkMiddleware(b *testing.B) {
	m, _ := newHTTP(b)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})
	w := discard{h: http.Header{}}
	plain := httptest.NewRequest("GET", "/users/42", nil)
	sampled := plain.WithContext(spanContext(context.Background(), true))
	cases := []struct {
		name string
		h    http.Handler
		req  *http.Request
	}{
		{"handler", mux, plain},
		{"shared state", layer(mux), plain},
		{"metrics", m.middleware(mux), plain},
		{"metrics beneath another layer", layer(m.middleware(mux)), plain},
		{"metrics with exemplar", m.middleware(mux), sampled},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, c.req)
			}
		})
	}
}

func BenchmarkMiddlewareParallel(b *testing.B) {
	m, _ := newHTTP(b)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	h := m.middleware(mux)
	req := httptest.NewRequest("GET", "/users/42", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := discard{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}

func BenchmarkTransport(b *testing.B) {
	m, _ := newHTTP(b)
	rt := m.transport(&roundTripper{status: 200})
	req := httptest.NewRequest("GET", "http://catalog:8080/products/1", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}
