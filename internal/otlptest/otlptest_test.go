package otlptest_test

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/prodready/prodready/internal/otlptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReceiverDecodesRealExporter sends spans through the real OTLP/HTTP
// exporter, compressed and not, and checks every field of Span.
func TestReceiverDecodesRealExporter(t *testing.T) {
	tests := []struct {
		name        string
		compression otlptracehttp.Compression
	}{
		{"plain", otlptracehttp.NoCompression},
		{"gzip", otlptracehttp.GzipCompression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			r := otlptest.NewReceiver(t)
			exp, err := otlptracehttp.New(ctx,
				otlptracehttp.WithEndpointURL(r.Endpoint()+"/v1/traces"),
				otlptracehttp.WithCompression(tt.compression),
				otlptracehttp.WithHeaders(map[string]string{"x-tenant": "t1"}),
			)
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithSyncer(exp),
				sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"))),
			)
			tracer := tp.Tracer("test")

			linked := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{0xaa, 1}, SpanID: trace.SpanID{0xbb, 2}, TraceFlags: trace.FlagsSampled,
			})
			ctxRoot, root := tracer.Start(ctx, "root", trace.WithSpanKind(trace.SpanKindServer),
				trace.WithLinks(trace.Link{SpanContext: linked}))
			root.SetAttributes(
				attribute.String("s", "v"), attribute.Int("i", 42), attribute.Bool("b", true),
				attribute.Float64("f", 1.5), attribute.StringSlice("a", []string{"x", "y"}),
			)
			root.AddEvent("started")
			_, child := tracer.Start(ctxRoot, "child", trace.WithSpanKind(trace.SpanKindClient))
			child.SetStatus(codes.Error, "boom")
			child.End()
			root.SetStatus(codes.Ok, "")
			root.End()
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}

			spans, err := r.WaitForSpans(ctx, 2)
			if err != nil {
				t.Fatal(err)
			}
			rootSC, childSC := root.SpanContext(), child.SpanContext()
			want := []otlptest.Span{
				{
					TraceID: childSC.TraceID().String(), SpanID: childSC.SpanID().String(),
					ParentSpanID: rootSC.SpanID().String(), Name: "child", Kind: "client", Service: "svc",
					Attributes: map[string]string{}, StatusCode: "error",
				},
				{
					TraceID: rootSC.TraceID().String(), SpanID: rootSC.SpanID().String(),
					Name: "root", Kind: "server", Service: "svc",
					Attributes: map[string]string{"s": "v", "i": "42", "b": "true", "f": "1.5", "a": "[x y]"},
					StatusCode: "ok", Events: []string{"started"}, Links: []string{linked.TraceID().String()},
				},
			}
			if !reflect.DeepEqual(spans, want) {
				t.Errorf("spans:\n got %+v\nwant %+v", spans, want)
			}
			hs := r.Headers()
			if len(hs) != 2 || hs[0].Get("X-Tenant") != "t1" {
				t.Errorf("headers = %v, want two requests carrying X-Tenant: t1", hs)
			}
		})
	}
}

func TestReceiverRejectsBadRequests(t *testing.T) {
	r := otlptest.NewReceiver(t)
	valid, err := proto.Marshal(&collectorpb.ExportTraceServiceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, contentType, encoding string
		body                                []byte
		want                                int
	}{
		{"valid empty request", http.MethodPost, "application/x-protobuf", "", valid, http.StatusOK},
		{"GET", http.MethodGet, "", "", nil, http.StatusMethodNotAllowed},
		{"JSON", http.MethodPost, "application/json", "", []byte("{}"), http.StatusUnsupportedMediaType},
		{"garbage protobuf", http.MethodPost, "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"not gzip", http.MethodPost, "application/x-protobuf", "gzip", []byte("plain"), http.StatusBadRequest},
		{"unknown encoding", http.MethodPost, "application/x-protobuf", "br", valid, http.StatusBadRequest},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, r.Endpoint()+"/v1/traces", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Content-Encoding", tt.encoding)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	client.CloseIdleConnections()
	if got := r.Spans(); len(got) != 0 {
		t.Errorf("spans = %v, want none", got)
	}
}

func TestWaitForSpansEndsWithContext(t *testing.T) {
	r := otlptest.NewReceiver(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	spans, err := r.WaitForSpans(ctx, 1)
	if err == nil || len(spans) != 0 {
		t.Errorf("WaitForSpans = %v, %v; want no spans and an error", spans, err)
	}
}

func FuzzDecode(f *testing.F) {
	seed, err := proto.Marshal(&collectorpb.ExportTraceServiceRequest{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		spans, err := otlptest.Decode(body)
		if err != nil && spans != nil {
			t.Errorf("Decode returned spans with an error")
		}
	})
}
