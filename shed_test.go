package prodready_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/tracing"
)

// TestShedRecorded: a request server.Admission refuses, inside the
// documented stack, is a 503 with Retry-After whose access line, metric
// sample and span all carry error type "shed", while the handler never
// ran.
func TestShedRecorded(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer func() { _ = tp.Shutdown(t.Context()) }()
	var logs bytes.Buffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.InfoLevel))
	reg := prometheus.NewRegistry()
	red, err := metrics.Middleware(reg)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := server.NewAdmission(reg, server.LimitBounds(1, 1), server.InitialLimit(1), server.AdmitLogger(logging.Slog(zap.NewNop())))
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(http.ResponseWriter, *http.Request) { ran = true })
	h := tracing.Middleware(tracing.TracerProvider(tp))(logging.Middleware(log)(red(adm.Middleware(mux))))

	held, err := adm.Acquire(t.Context()) // the one place the limit has
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/work", nil))
	held.Release()

	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || ran {
		t.Fatalf("answer %d, Retry-After %q, handler ran %v; want 503, 1, false", w.Code, w.Header().Get("Retry-After"), ran)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("access line %q: %v", logs.String(), err)
	}
	if line["error_type"] != "shed" || line["level"] != "warn" {
		t.Errorf("access line error_type %v at %v, want shed at warn", line["error_type"], line["level"])
	}
	if n := testutil.ToFloat64(requests(t, reg, `code="503",error_type="shed",method="GET",route="unmatched"`)); n != 1 {
		t.Errorf("http_requests_total{error_type=shed} %v, want 1", n)
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	found := false
	for _, kv := range spans[0].Attributes() {
		if kv.Key == "error.type" && kv.Value.AsString() == "shed" {
			found = true
		}
	}
	if !found || spans[0].Status().Description != "shed" {
		t.Errorf("span attributes %v, status %v: want error.type shed", spans[0].Attributes(), spans[0].Status())
	}
}

// requests returns the http_requests_total sample with labels, as a
// collector testutil can read.
func requests(t *testing.T, reg *prometheus.Registry, labels string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, l := range m.GetLabel() {
				parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if strings.Join(parts, ",") == labels {
				v := m.GetCounter().GetValue()
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "v", Help: "v"}, func() float64 { return v })
			}
		}
	}
	t.Fatalf("no http_requests_total{%s}", labels)
	return nil
}
