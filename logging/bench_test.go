package logging_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/prodready/prodready/logging"
)

// BenchmarkMiddleware measures what the middleware adds to a request:
// correlation ID, request logger, access line (JSON to io.Discard).
func BenchmarkMiddleware(b *testing.B) {
	l, _, err := logging.New(logging.Config{Output: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /log/{id}", func(w http.ResponseWriter, r *http.Request) {
		logging.FromContext(r.Context()).Info("loaded", zap.String("id", r.PathValue("id")))
		w.WriteHeader(http.StatusNoContent)
	})
	cases := []struct {
		name string
		h    http.Handler
		path string
		id   string
	}{
		{"baseline mux", mux, "/users/7", ""},
		{"access line new ID", logging.Middleware(l)(mux), "/users/7", ""},
		{"access line incoming ID", logging.Middleware(l)(mux), "/users/7", "abc-123"},
		{"access log off", logging.Middleware(l, logging.AccessLog(false))(mux), "/users/7", "abc-123"},
		{"handler logs one line", logging.Middleware(l)(mux), "/log/7", "abc-123"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", c.path, nil)
			if c.id != "" {
				req.Header.Set("X-Correlation-ID", c.id)
			}
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, req)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the middleware and not httptest.ResponseRecorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
