package tracing_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/prodready/prodready/tracing"
)

// TestMiddlewareAndTransport checks parent and child across a server span,
// a client span and the next service's server span, in one process.
func TestMiddlewareAndTransport(t *testing.T) {
	tp, sr := recorder(t)
	opts := []tracing.SharedOption{tracing.TracerProvider(tp), tracing.Propagator(w3c)}

	downstream := httptest.NewServer(tracing.Middleware(opts[0], opts[1])(testMux()))
	defer downstream.Close()
	client := &http.Client{Transport: tracing.Transport(nil, opts[0], opts[1])}
	defer client.CloseIdleConnections()

	front := http.NewServeMux()
	front.HandleFunc("GET /front", func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), "GET", downstream.URL+"/users/9", nil)
		if err != nil {
			t.Error(err)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(w, resp.Body)
		_ = resp.Body.Close()
	})
	tracing.Middleware(opts[0], opts[1])(front).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/front", nil))

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range sr.Ended() {
		byName[s.Name()] = s
	}
	server, clientSpan, down := byName["GET /front"], byName["GET"], byName["GET /users/{id}"]
	if server == nil || clientSpan == nil || down == nil {
		t.Fatalf("spans = %v, want GET /front, GET (client) and GET /users/{id}", byName)
	}
	if clientSpan.SpanKind() != trace.SpanKindClient {
		t.Errorf("client span kind = %v", clientSpan.SpanKind())
	}
	if clientSpan.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Error("client span is not the child of the front server span")
	}
	if down.Parent().SpanID() != clientSpan.SpanContext().SpanID() || !down.Parent().IsRemote() {
		t.Error("downstream server span is not the remote child of the client span")
	}
	if tid := server.SpanContext().TraceID(); clientSpan.SpanContext().TraceID() != tid || down.SpanContext().TraceID() != tid {
		t.Error("spans are not in one trace")
	}
}

func TestTransportInjectsContext(t *testing.T) {
	tp, _ := recorder(t)
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	client := &http.Client{Transport: tracing.Transport(nil, tracing.TracerProvider(tp), tracing.Propagator(w3c))}
	defer client.CloseIdleConnections()

	ctx, span := tp.Tracer("t").Start(t.Context(), "parent")
	defer span.End()
	ctx = trace.ContextWithSpanContext(ctx, span.SpanContext().WithTraceState(mustTraceState(t, "vendor=x")))
	req, err := http.NewRequestWithContext(withBaggage(t, ctx, "tenant", "acme"), "GET", srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if !strings.Contains(got.Get("Traceparent"), span.SpanContext().TraceID().String()) ||
		got.Get("Tracestate") != "vendor=x" || got.Get("Baggage") != "tenant=acme" {
		t.Errorf("headers = traceparent %q tracestate %q baggage %q", got.Get("Traceparent"), got.Get("Tracestate"), got.Get("Baggage"))
	}
}
