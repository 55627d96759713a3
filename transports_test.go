package prodready_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/tracing"
)

// clientCall is what one outgoing call through the three transports left
// behind.
type clientCall struct {
	correlationID string                // as the next service received it
	traceparent   trace.SpanContext     // as the next service received it
	server        sdktrace.ReadOnlySpan // the span of the incoming request
	client        sdktrace.ReadOnlySpan // the span of the outgoing call
	count         float64               // http_client_requests_total{code="200"}
	exemplar      map[string]string     // the duration histogram's exemplar labels
}

// callThrough serves one request, with a correlation ID, through the
// standard middleware stack to a handler that calls the next service
// through the transport wrap builds, and returns what the call left.
func callThrough(t *testing.T, wrap func(base http.RoundTripper, reg prometheus.Registerer, tp trace.TracerProvider) http.RoundTripper) clientCall {
	t.Helper()
	var got clientCall
	prop := propagation.TraceContext{}
	next := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got.correlationID = r.Header.Get("X-Correlation-Id")
		got.traceparent = trace.SpanContextFromContext(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
	}))
	defer next.Close()

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer func() { _ = tp.Shutdown(t.Context()) }()
	reg := prometheus.NewRegistry()
	client := &http.Client{Transport: wrap(next.Client().Transport, reg, tp)}
	defer client.CloseIdleConnections()

	red, err := metrics.Middleware(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, next.URL+"/products/p1", nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = resp.Body.Close()
	})
	handler := tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(prop))(logging.Middleware(zap.NewNop())(red(mux)))
	req := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	req.Header.Set("X-Correlation-Id", "order-7-call")
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}

	for _, s := range rec.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			got.server = s
		case trace.SpanKindClient:
			got.client = s
		}
	}
	if got.server == nil || got.client == nil {
		t.Fatalf("spans %v: want a server and a client span", rec.Ended())
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if !hasLabel(m, "code", "200") {
				continue
			}
			switch f.GetName() {
			case "http_client_requests_total":
				got.count += m.GetCounter().GetValue()
			case "http_client_request_duration_seconds":
				for _, b := range m.GetHistogram().GetBucket() {
					if e := b.GetExemplar(); e != nil {
						got.exemplar = map[string]string{}
						for _, l := range e.GetLabel() {
							got.exemplar[l.GetName()] = l.GetValue()
						}
					}
				}
			}
		}
	}
	return got
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func metricsTransport(t *testing.T, base http.RoundTripper, reg prometheus.Registerer) http.RoundTripper {
	t.Helper()
	rt, err := metrics.Transport(base, reg)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestClientTransportOrder: with the documented order,
// tracing.Transport(logging.Transport(metrics.Transport(base))), the next
// service gets the correlation ID and a traceparent whose parent is the
// client span, a child of the request's server span; the client series
// counts the call, and its exemplar names the client span. With metrics
// outermost, the exemplar names the server span instead: the reason for
// the order.
func TestClientTransportOrder(t *testing.T) {
	got := callThrough(t, func(base http.RoundTripper, reg prometheus.Registerer, tp trace.TracerProvider) http.RoundTripper {
		return tracing.Transport(logging.Transport(metricsTransport(t, base, reg)), tracing.TracerProvider(tp), tracing.Propagator(propagation.TraceContext{}))
	})
	server, client := got.server.SpanContext(), got.client.SpanContext()
	if got.correlationID != "order-7-call" {
		t.Errorf("next service got correlation ID %q, want the request's", got.correlationID)
	}
	if got.client.Parent().SpanID() != server.SpanID() || client.TraceID() != server.TraceID() {
		t.Errorf("client span %v is not a child of the server span %v", got.client.Parent(), server)
	}
	if got.traceparent.TraceID() != server.TraceID() || got.traceparent.SpanID() != client.SpanID() || !got.traceparent.IsSampled() {
		t.Errorf("next service got traceparent %v, want trace %s, parent %s, sampled", got.traceparent, server.TraceID(), client.SpanID())
	}
	if got.count != 1 {
		t.Errorf("http_client_requests_total{code=200} = %v, want 1", got.count)
	}
	if got.exemplar["trace_id"] != client.TraceID().String() || got.exemplar["span_id"] != client.SpanID().String() {
		t.Errorf("exemplar %v, want the client span %s/%s", got.exemplar, client.TraceID(), client.SpanID())
	}

	t.Run("metrics outermost", func(t *testing.T) {
		got := callThrough(t, func(base http.RoundTripper, reg prometheus.Registerer, tp trace.TracerProvider) http.RoundTripper {
			return metricsTransport(t, tracing.Transport(logging.Transport(base), tracing.TracerProvider(tp), tracing.Propagator(propagation.TraceContext{})), reg)
		})
		if span := got.exemplar["span_id"]; span != got.server.SpanContext().SpanID().String() || strings.EqualFold(span, got.client.SpanContext().SpanID().String()) {
			t.Errorf("exemplar span %s: want the server span's when metrics wraps tracing (the test no longer shows why the order matters)", span)
		}
	})
}
