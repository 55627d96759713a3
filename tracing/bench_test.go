package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

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

// sdkFloor is the least any tracing middleware on this SDK pays for a
// server span: start it, hand the handler a request carrying it, set the
// attributes (built beforehand, not per request) and end it. No propagator,
// no shared request state, no naming after the route.
type sdkFloor struct {
	tr    trace.Tracer
	attrs []attribute.KeyValue
	next  http.Handler
}

var floorStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

func (f sdkFloor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, span := f.tr.Start(r.Context(), "GET /users/{id}", floorStart...)
	f.next.ServeHTTP(w, r.WithContext(ctx))
	span.SetAttributes(f.attrs...)
	span.End()
}

// benchRequest is the request every benchmark case serves.
func benchRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/users/42", nil)
	req.Header.Set("User-Agent", "bench")
	return req
}

// ourAttrs returns the attributes our middleware sets on the benchmark's
// request, so the floor sets exactly as many.
func ourAttrs(tb testing.TB, next http.Handler) []attribute.KeyValue {
	tb.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracing.Middleware(tracing.TracerProvider(tp))(next).ServeHTTP(&discardWriter{h: http.Header{}}, benchRequest())
	spans := sr.Ended()
	if len(spans) != 1 {
		tb.Fatalf("got %d spans, want 1", len(spans))
	}
	return spans[0].Attributes()
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
			{"prodready", tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(prop))(benchMux())},
			{"sdkfloor", sdkFloor{tr: tp.Tracer("floor"), attrs: ourAttrs(b, benchMux()), next: benchMux()}},
			{"otelhttp", otelhttp.NewHandler(benchMux(), "server", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop))},
		}
		for _, h := range handlers {
			b.Run(s.name+"/"+h.name, func(b *testing.B) {
				req := benchRequest()
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					h.h.ServeHTTP(w, req)
				}
			})
		}
	}
}
