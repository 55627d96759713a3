package prodready_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/tracing"
)

// TestOneVersion: set nowhere by the service, the version on the log
// lines, on build_info and on the trace resource is the same one, the
// binary's.
func TestOneVersion(t *testing.T) {
	var out bytes.Buffer
	log, _, err := logging.New(logging.Config{Service: "svc", Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	logged, _ := line["version"].(string)

	mfs, err := metrics.NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := ""
	for _, mf := range mfs {
		if mf.GetName() == "build_info" {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				if l.GetName() == "version" {
					counted = l.GetValue()
				}
			}
		}
	}

	exp := tracetest.NewInMemoryExporter()
	tp, err := tracing.Setup(context.Background(), tracing.Config{ServiceName: "svc", SpanExporters: []sdktrace.SpanExporter{exp}, NoGlobal: true})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.TracerProvider().Tracer("t").Start(context.Background(), "s")
	span.End()
	// Shutdown would empty the in-memory exporter: flush, read, then shut down.
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tp.Shutdown(context.Background()) }()
	traced := ""
	if n := len(exp.GetSpans()); n != 1 {
		t.Fatalf("%d spans exported, want 1", n)
	}
	if spans := exp.GetSpans(); len(spans) == 1 {
		for _, kv := range spans[0].Resource.Attributes() {
			if kv.Key == "service.version" {
				traced = kv.Value.AsString()
			}
		}
	}
	if logged == "" || logged != counted || logged != traced {
		t.Errorf("version: log line %q, build_info %q, trace resource %q; want one non-empty value", logged, counted, traced)
	}
}
