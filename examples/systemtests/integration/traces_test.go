//go:build unix

package integration_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/otlptest"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestTraces: one order is one trace, exported over OTLP/HTTP by both
// services: orders' server span, its client span, catalog's server span,
// each the parent of the next.
func TestTraces(t *testing.T) {
	receiver := otlptest.NewReceiver(t)
	s := e2e.StartStack(t, bin, e2e.StackOptions{OTLP: receiver})
	if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p1","quantity":1}`); r.Status != http.StatusCreated {
		t.Fatalf("POST /orders: %d: %s", r.Status, r.Body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spans, err := receiver.WaitForSpans(ctx, 3)
	if err != nil {
		t.Fatalf("%v; received %+v", err, spans)
	}
	find := func(service, kind, name string) otlptest.Span {
		t.Helper()
		for _, sp := range spans {
			if sp.Service == service && sp.Kind == kind && (name == "" || sp.Name == name) {
				return sp
			}
		}
		t.Fatalf("no %s span %q from %s among %+v", kind, name, service, spans)
		return otlptest.Span{}
	}
	server := find("orders", "server", "POST /orders")
	client := find("orders", "client", "")
	lookup := find("catalog", "server", "GET /products/{id}")

	if server.ParentSpanID != "" {
		t.Errorf("orders' server span has parent %s; the client sent no traceparent", server.ParentSpanID)
	}
	if client.TraceID != server.TraceID || client.ParentSpanID != server.SpanID {
		t.Errorf("client span %+v is not the child of the server span %+v", client, server)
	}
	if lookup.TraceID != server.TraceID || lookup.ParentSpanID != client.SpanID {
		t.Errorf("catalog's span %+v is not the child of orders' client span %+v", lookup, client)
	}
	if len(spans) != 3 {
		t.Errorf("%d spans, want exactly 3 for one order: %+v", len(spans), spans)
	}
	for _, sp := range []otlptest.Span{server, lookup} {
		if sp.Attributes["http.route"] == "" {
			t.Errorf("span %q without http.route: %v", sp.Name, sp.Attributes)
		}
	}
}
