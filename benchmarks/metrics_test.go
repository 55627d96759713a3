package benchmarks_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	slokprom "github.com/slok/go-http-metrics/metrics/prometheus"
	slokmw "github.com/slok/go-http-metrics/middleware"
	slokstd "github.com/slok/go-http-metrics/middleware/std"

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

// otelBuckets are the duration buckets all three are given, so that each
// observation does the same work.
var otelBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// promhttpChain is promhttp's documented four-handler chain (in flight,
// duration, counter, response size), with the route as a curried
// "handler" label: promhttp allows only code and method as variable labels.
func promhttpChain(reg *prometheus.Registry, route string, next http.Handler) http.Handler {
	labels := []string{"handler", "code", "method"}
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "http_requests_in_flight", Help: "x"})
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "x"}, labels)
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "x", Buckets: otelBuckets,
	}, labels)
	size := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_response_size_bytes", Help: "x", Buckets: prometheus.ExponentialBuckets(64, 4, 10),
	}, labels)
	reg.MustRegister(inFlight, counter, duration, size)
	route1 := prometheus.Labels{"handler": route}
	return promhttp.InstrumentHandlerInFlight(inFlight,
		promhttp.InstrumentHandlerDuration(duration.MustCurryWith(route1),
			promhttp.InstrumentHandlerCounter(counter.MustCurryWith(route1),
				promhttp.InstrumentHandlerResponseSize(size.MustCurryWith(route1), next))))
}

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
		Registry: prometheus.NewRegistry(), DurationBuckets: otelBuckets,
	})})
	// Another prodready layer (logging or tracing) creates the shared
	// state as this one does.
	another := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, w, r := request.Enter(r.Context(), w, r)
			next.ServeHTTP(w, r)
			st.CaptureRoute(r)
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
		{"promhttp chain", promhttpChain(prometheus.NewRegistry(), route, mux)},
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
