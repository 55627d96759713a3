package prodready_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/prodready/prodready"
	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/tracing"
)

// TestStackAllocs holds the allocations the whole edge adds to a request,
// as catalog wires it (tracing, logging with its buffer, metrics,
// admission, the request deadline, Routes around the mux), so that a
// change that adds per-request garbage, or a merge that drops a piece of
// the hot path's set-up, shows here and not only in a benchmark nobody
// reran. scripts/test runs it without -race, where the count is exact.
func TestStackAllocs(t *testing.T) {
	tests := []struct {
		name    string
		sampler sdktrace.Sampler
		max     float64
	}{
		// Measured when this test was written: 12 either way. Then 6 and 5
		// (issue 29): the request deadline kept in the request state, the
		// unsampled span's state made by tracing, the access line's IDs
		// written in place, and no body limit for a request without one.
		{"sampled span", sdktrace.AlwaysSample(), 6},
		{"unsampled", sdktrace.NeverSample(), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, _, err := logging.New(logging.Config{Service: "allocs", Output: io.Discard, Buffer: &logging.Buffer{}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = log.Sync() }()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(tt.sampler))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			red, err := metrics.Middleware(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			admit, err := server.NewAdmission(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			})
			// Exactly catalog's traffic handler: the body limit and the
			// request deadline of server.Config.Traffic around the layers.
			h := server.Config{}.Traffic(prodready.Routes(mux),
				tracing.Middleware(tracing.TracerProvider(tp)), logging.Middleware(log), red, admit.Middleware).Handler
			req := httptest.NewRequest("GET", "/products/p1", nil)
			req.Header.Set("X-Correlation-ID", "allocs-1")
			rec := httptest.NewRecorder()
			got := testenv.ExtraAllocs(500, func() { h.ServeHTTP(rec, req) }, func() { mux.ServeHTTP(rec, req) })
			t.Logf("%v allocs per request beyond the bare mux", got)
			limit := tt.max
			if testenv.Race {
				limit += 3 // sync.Pool drops at random under -race; exact without it
			}
			if got > limit {
				t.Fatalf("%v allocs per request beyond the bare mux, want at most %v", got, limit)
			}
		})
	}
}
