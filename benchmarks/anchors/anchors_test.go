package anchors_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/prodready/prodready/benchmarks/anchors"
	"github.com/prodready/prodready/internal/testenv"
)

// TestStack checks that the anchors do what they stand for: a span per
// request, an access line with the request ID, the request counted.
func TestStack(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	var logs testenv.LogBuffer
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		anchors.Logger(r.Context()).Info("loaded")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(r.PathValue("id")))
	})
	h := anchors.Stack(mux, anchors.ZapProduction(&logs), reg, "/users/{id}", otelhttp.WithTracerProvider(tp))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/users/42", nil))
	if rec.Code != http.StatusCreated || rec.Body.String() != "42" {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}
	if n := len(spans.Ended()); n != 1 {
		t.Errorf("%d spans", n)
	}
	lines := logs.JSON(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), logs.String())
	}
	access := lines[1]
	if access["msg"] != "request" || access["status"] != float64(201) || access["bytes"] != float64(2) ||
		access["request_id"] == "" || access["request_id"] != lines[0]["request_id"] {
		t.Errorf("lines %v", lines)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := false
	for _, f := range families {
		if f.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["code"] == "201" && labels["handler"] == "/users/{id}" && m.GetCounter().GetValue() == 1 {
				counted = true
			}
		}
	}
	if !counted {
		t.Errorf("no http_requests_total{code=201,handler=/users/{id}} of 1 in %v", families)
	}
}
