package benchmarks_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/prodready/prodready"
	"github.com/prodready/prodready/benchmarks/anchors"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/tracing"
)

// discardExporter takes every batch and drops it, so the span processor
// does its real work (queueing, batching, a goroutine) and nothing is
// sent anywhere.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

var _ sdktrace.SpanExporter = discardExporter{}

// stackProvider is the SDK set-up both stacks get: every span sampled,
// recorded and handed to a batch processor.
func stackProvider(b *testing.B) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(discardExporter{}),
	)
	b.Cleanup(func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return tp
}

// BenchmarkStack is the question a user asks before adopting the
// library: what do tracing, logging and metrics cost together, on one
// ServeMux route, against the libraries they would otherwise stack?
//
//	impl=bare       the mux and its handler alone: the floor
//	impl=prodready  tracing.Middleware → logging.Middleware → metrics
//	impl=anchors    anchors.Stack: otelhttp.NewHandler → chi RequestID + a
//	                usual zap access log → promhttp's four-handler chain
//	impl=catalog    catalog's traffic handler exactly (server.Config.Traffic:
//	                the body limit, tracing, logging into a Buffer, metrics,
//	                admission, the request deadline, Routes), its spans not
//	                sampled as with no exporter configured: what the load
//	                test's prodready twin runs per request, less the network
//
// Each span is sampled and goes to a batch processor; each access line is
// encoded as JSON to io.Discard; each request is counted and timed in
// histograms. Compare with benchstat -col /impl.
func BenchmarkStack(b *testing.B) {
	const route = "/users/{id}"
	newMux := func() *http.ServeMux {
		mux := http.NewServeMux()
		mux.HandleFunc("GET "+route, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(r.PathValue("id")))
		})
		return mux
	}
	stacks := []struct {
		name  string
		build func(b *testing.B, mux http.Handler) http.Handler
	}{
		{"bare", func(_ *testing.B, mux http.Handler) http.Handler { return mux }},
		{"prodready", func(b *testing.B, mux http.Handler) http.Handler {
			logger, _, err := logging.New(logging.Config{Output: io.Discard})
			if err != nil {
				b.Fatal(err)
			}
			red, err := metrics.Middleware(prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			traced := tracing.Middleware(tracing.TracerProvider(stackProvider(b)))
			return traced(logging.Middleware(logger)(red(mux)))
		}},
		{"catalog", func(b *testing.B, mux http.Handler) http.Handler {
			logger, _, err := logging.New(logging.Config{Output: io.Discard, Buffer: &logging.Buffer{}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = logger.Sync() })
			reg := prometheus.NewRegistry()
			red, err := metrics.Middleware(reg)
			if err != nil {
				b.Fatal(err)
			}
			admit, err := server.NewAdmission(reg)
			if err != nil {
				b.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			return server.Config{}.Traffic(prodready.Routes(mux),
				tracing.Middleware(tracing.TracerProvider(tp)), logging.Middleware(logger), red, admit.Middleware).Handler
		}},
		{"anchors", func(b *testing.B, mux http.Handler) http.Handler {
			return anchors.Stack(mux, anchors.ZapProduction(io.Discard), prometheus.NewRegistry(), route,
				otelhttp.WithTracerProvider(stackProvider(b)))
		}},
	}
	req := httptest.NewRequest(http.MethodGet, "/users/7", nil)
	req.Header.Set("User-Agent", "bench/1.0")
	for _, s := range stacks {
		b.Run("impl="+s.name, func(b *testing.B) {
			h := s.build(b, newMux())
			w := metricsWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
