package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/prodready/prodready/tracing"
)

// discardProcessor ends spans without exporting them, so the benchmark
// measures the instrumentation, not an exporter.
type discardProcessor struct{}

func (discardProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discardProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discardProcessor) Shutdown(context.Context) error                  { return nil }
func (discardProcessor) ForceFlush(context.Context) error                { return nil }

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func benchMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

func BenchmarkMiddleware(b *testing.B) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	samplers := []struct {
		name    string
		sampler sdktrace.Sampler
	}{
		{"sampled", sdktrace.AlwaysSample()},
		{"unsampled", sdktrace.NeverSample()},
	}
	for _, s := range samplers {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(s.sampler), sdktrace.WithSpanProcessor(discardProcessor{}))
		handlers := []struct {
			name string
			h    http.Handler
		}{
			{"baseline", benchMux()},
			{"prodready", tracing.NewMiddleware(tracing.TracerProvider(tp), tracing.Propagator(prop))(benchMux())},
			{"otelhttp", otelhttp.NewHandler(benchMux(), "server", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop))},
		}
		for _, h := range handlers {
			b.Run(s.name+"/"+h.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/users/42", nil)
				req.Header.Set("User-Agent", "bench")
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					h.h.ServeHTTP(w, req)
				}
			})
		}
	}
}
