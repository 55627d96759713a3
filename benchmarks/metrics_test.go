package benchmarks_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	slokprom "github.com/slok/go-http-metrics/metrics/prometheus"
	slokmw "github.com/slok/go-http-metrics/middleware"
	slokstd "github.com/slok/go-http-metrics/middleware/std"

	"github.com/prodready/prodready/benchmarks/anchors"
	"github.com/prodready/prodready/internal/request"
	"github.com/prodready/prodready/metrics"
)

// metricsWriter is the cheapest ResponseWriter, with Flush as a real
// server's writer has, so that each run measures the middleware.
type metricsWriter struct{ h http.Header }

func (w metricsWriter) Header() http.Header       { return w.h }
func (metricsWriter) Write(b []byte) (int, error) { return len(b), nil }
func (metricsWriter) WriteHeader(int)             {}
func (metricsWriter) Flush()                      {}

// BenchmarkMetricsMiddleware runs one ServeMux route, GET /users/{id},
// bare and under each RED middleware, in the same run. prodready's figure
// includes the request state its middlewares share (it would be paid once
// for logging, metrics and tracing together); "prodready beneath logging"
// is its cost when another prodready layer has created that state.
func BenchmarkMetricsMiddleware(b *testing.B) {
	const route = "/users/{id}"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+route, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})
	ours, err := metrics.Middleware(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	slok := slokmw.New(slokmw.Config{Recorder: slokprom.NewRecorder(slokprom.Config{
		Registry: prometheus.NewRegistry(), DurationBuckets: anchors.DurationBuckets,
	})})
	// Another prodready layer (logging or tracing) creates the shared
	// state as this one does.
	another := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			request.Serve(request.Logging, r.Context(), w, r, next, nil)
		})
	}
	beneath, err := metrics.Middleware(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		h    http.Handler
	}{
		{"handler", mux},
		{"prodready", ours(mux)},
		{"shared state alone", another(mux)},
		{"prodready beneath another prodready layer", another(beneath(mux))},
		{"promhttp chain", anchors.PromhttpChain(prometheus.NewRegistry(), route, mux)},
		{"slok", slokstd.Handler(route, slok, mux)},
	}
	req := httptest.NewRequest("GET", "/users/42", nil)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := metricsWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, req)
			}
		})
	}
}
