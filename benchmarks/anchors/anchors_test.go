package anchors_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
	want := `
		# HELP http_requests_total Requests served.
		# TYPE http_requests_total counter
		http_requests_total{code="201",handler="/users/{id}",method="get"} 1
	`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "http_requests_total"); err != nil {
		t.Error(err)
	}
}
