package benchmarks_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/prodready/prodready/tracing"
)

// spanDiscarder ends spans without exporting them: both middlewares pay
// for the same SDK, and only the instrumentation differs.
type spanDiscarder struct{}

func (spanDiscarder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (spanDiscarder) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (spanDiscarder) Shutdown(context.Context) error                  { return nil }
func (spanDiscarder) ForceFlush(context.Context) error                { return nil }

type tracingDiscardWriter struct{ h http.Header }

func (w *tracingDiscardWriter) Header() http.Header         { return w.h }
func (w *tracingDiscardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *tracingDiscardWriter) WriteHeader(int)             {}

func tracingRoute() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	return mux
}

// BenchmarkTracingMiddleware compares prodready's server middleware with
// otelhttp.NewHandler on the same route and the same SDK set-up: AlwaysSample
// ("sampled") or NeverSample ("unsampled"), spans discarded at the end.
func BenchmarkTracingMiddleware(b *testing.B) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	for _, s := range []struct {
		name    string
		sampler sdktrace.Sampler
	}{{"sampled", sdktrace.AlwaysSample()}, {"unsampled", sdktrace.NeverSample()}} {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(s.sampler), sdktrace.WithSpanProcessor(spanDiscarder{}))
		for _, h := range []struct {
			name string
			h    http.Handler
		}{
			{"baseline", tracingRoute()},
			{"prodready", tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(prop))(tracingRoute())},
			{"otelhttp", otelhttp.NewHandler(tracingRoute(), "server", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop))},
		} {
			b.Run(s.name+"/"+h.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/users/42", nil)
				req.Header.Set("User-Agent", "bench")
				w := &tracingDiscardWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					h.h.ServeHTTP(w, req)
				}
			})
		}
	}
}
