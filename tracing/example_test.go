package tracing_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/prodready/prodready/tracing"
)

func ExampleSetup() {
	// In a real service the environment decides: OTEL_EXPORTER_OTLP_ENDPOINT,
	// OTEL_SERVICE_NAME and the rest. With none of it set, nothing is
	// exported and nothing is logged.
	ctx := context.Background()
	p, err := tracing.Setup(ctx, tracing.Config{ServiceName: "catalog", ServiceVersion: "1.0.0", Environment: "production", NoGlobal: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = p.Shutdown(ctx) }()

	ctx, span := p.TracerProvider().Tracer("example").Start(ctx, "work")
	defer span.End()
	fmt.Println(len(tracing.TraceID(ctx)))
	// Output: 32
}

func ExampleSetup_invalidEnvironment() {
	if err := os.Setenv("OTEL_TRACES_SAMPLER", "sometimes"); err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.Unsetenv("OTEL_TRACES_SAMPLER") }()
	_, err := tracing.Setup(context.Background(), tracing.Config{NoGlobal: true})
	fmt.Println(err)
	// Output: tracing: invalid environment variable OTEL_TRACES_SAMPLER="sometimes": unknown sampler: want always_on, always_off, traceidratio or their parentbased_ forms
}

func ExampleMiddleware() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		// With tracing.Setup installed globally, r's context carries the span.
		_, _ = io.WriteString(w, "product "+r.PathValue("id"))
	})
	handler := tracing.Middleware()(mux)

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/products/7", nil))
	fmt.Println(rec.Body.String())
	// Output: product 7
}

func ExampleMiddleware_options() {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /livez", func(http.ResponseWriter, *http.Request) {})
	handler := tracing.Middleware(
		tracing.TracerProvider(tp),
		tracing.SkipPaths("/livez"),
		tracing.PublicEndpoint(true),
	)(mux)

	for _, path := range []string{"/products/7", "/livez", "/nowhere"} {
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	for _, s := range sr.Ended() {
		fmt.Println(s.Name())
	}
	// Output:
	// GET /products/{id}
	// GET
}

func ExampleTransport() {
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Traceparent") != "")
	}))
	defer downstream.Close()

	tp := sdktrace.NewTracerProvider()
	client := &http.Client{Transport: tracing.Transport(nil,
		tracing.TracerProvider(tp), tracing.Propagator(propagation.TraceContext{}))}
	defer client.CloseIdleConnections()

	ctx, span := tp.Tracer("example").Start(context.Background(), "caller")
	defer span.End()
	req, _ := http.NewRequestWithContext(ctx, "GET", downstream.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println("traceparent sent:", string(body))
	// Output: traceparent sent: true
}

func ExampleTransport_global() {
	// With no options, Transport uses the global provider and propagator
	// that Setup installs; a nil base means http.DefaultTransport.
	client := &http.Client{Transport: tracing.Transport(nil)}
	fmt.Println(client.Transport != nil)
	// Output: true
}

func ExampleTraceID() {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("example").Start(context.Background(), "op")
	defer span.End()
	fmt.Println(tracing.TraceID(context.Background()) == "", len(tracing.TraceID(ctx)))
	// Output: true 32
}
