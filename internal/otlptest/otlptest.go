package otlptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// maxBody bounds an export request, compressed or not, so a runaway test
// cannot exhaust memory.
const maxBody = 32 << 20

// Span is one received span, flattened for comparison in tests.
type Span struct {
	TraceID, SpanID, ParentSpanID string // lower-case hex; ParentSpanID "" for a root
	Name                          string
	Kind                          string            // "server", "client", "internal", "producer", "consumer"
	Service                       string            // resource attribute service.name
	Attributes                    map[string]string // span attributes, values rendered as strings
	StatusCode                    string            // "unset", "ok", "error"
	Events                        []string          // event names
	Links                         []string          // linked trace IDs
}

// Receiver is an OTLP/HTTP trace receiver listening on a loopback port.
type Receiver struct {
	srv      *http.Server
	endpoint string

	mu      sync.Mutex
	spans   []Span
	headers []http.Header
	arrived chan struct{} // closed and replaced whenever spans arrive
}

// NewReceiver starts a receiver on 127.0.0.1 at a free port. It is closed,
// and its goroutine ended, by t.Cleanup.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	r, err := ListenReceiver(t, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlptest: %v", err)
	}
	return r
}

// ListenReceiver starts a receiver on addr, such as the specification's
// default "127.0.0.1:4318", or returns the error when the port is taken.
// It is closed by t.Cleanup.
func ListenReceiver(t testing.TB, addr string) (*Receiver, error) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	r := &Receiver{
		endpoint: "http://" + ln.Addr().String(),
		arrived:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", r.serveTraces)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	t.Cleanup(func() {
		_ = r.srv.Close()
		<-done
	})
	return r, nil
}

// Endpoint returns the base URL, "http://127.0.0.1:PORT", the value for
// OTEL_EXPORTER_OTLP_ENDPOINT; exporters append /v1/traces themselves.
func (r *Receiver) Endpoint() string { return r.endpoint }

// Spans returns a copy of every span received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Headers returns the request headers of every export request received so
// far, for checking OTEL_EXPORTER_OTLP_HEADERS.
func (r *Receiver) Headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]http.Header, len(r.headers))
	for i, h := range r.headers {
		out[i] = h.Clone()
	}
	return out
}

// WaitForSpans blocks until at least n spans have arrived and returns them
// all, or returns what arrived with ctx's error when ctx ends first.
func (r *Receiver) WaitForSpans(ctx context.Context, n int) ([]Span, error) {
	for {
		r.mu.Lock()
		got, arrived := len(r.spans), r.arrived
		r.mu.Unlock()
		if got >= n {
			return r.Spans(), nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return r.Spans(), fmt.Errorf("otlptest: %d of %d spans arrived: %w", got, n, ctx.Err())
		}
	}
}

func (r *Receiver) serveTraces(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/x-protobuf" {
		http.Error(w, "only application/x-protobuf is supported", http.StatusUnsupportedMediaType)
		return
	}
	body, err := readBody(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	spans, err := Decode(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}

	r.mu.Lock()
	r.spans = append(r.spans, spans...)
	r.headers = append(r.headers, req.Header.Clone())
	close(r.arrived)
	r.arrived = make(chan struct{})
	r.mu.Unlock()

	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	_, _ = w.Write(resp)
}

func readBody(req *http.Request) ([]byte, error) {
	var src io.Reader = http.MaxBytesReader(nil, req.Body, maxBody)
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer func() { _ = zr.Close() }()
		src = io.LimitReader(zr, maxBody+1)
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(src); err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if buf.Len() > maxBody {
		return nil, errors.New("body too large")
	}
	return buf.Bytes(), nil
}

// Decode parses a protobuf ExportTraceServiceRequest into Spans.
func Decode(body []byte) ([]Span, error) {
	var msg collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		return nil, fmt.Errorf("otlptest: decode ExportTraceServiceRequest: %w", err)
	}
	var out []Span
	for _, rs := range msg.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = render(kv.GetValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				out = append(out, convert(s, service))
			}
		}
	}
	return out, nil
}

func convert(s *tracepb.Span, service string) Span {
	sp := Span{
		TraceID:      hex.EncodeToString(s.GetTraceId()),
		SpanID:       hex.EncodeToString(s.GetSpanId()),
		ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
		Name:         s.GetName(),
		Kind:         kind(s.GetKind()),
		Service:      service,
		Attributes:   make(map[string]string, len(s.GetAttributes())),
		StatusCode:   status(s.GetStatus().GetCode()),
	}
	for _, kv := range s.GetAttributes() {
		sp.Attributes[kv.GetKey()] = render(kv.GetValue())
	}
	for _, e := range s.GetEvents() {
		sp.Events = append(sp.Events, e.GetName())
	}
	for _, l := range s.GetLinks() {
		sp.Links = append(sp.Links, hex.EncodeToString(l.GetTraceId()))
	}
	return sp
}

func kind(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "unspecified"
}

func status(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}

// render writes an attribute value the way a test would spell it: strings
// as they are, numbers and booleans in Go syntax, arrays as [a b].
func render(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, render(e))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *commonpb.AnyValue_KvlistValue:
		parts := make([]string, 0, len(x.KvlistValue.GetValues()))
		for _, kv := range x.KvlistValue.GetValues() {
			parts = append(parts, kv.GetKey()+"="+render(kv.GetValue()))
		}
		return "{" + strings.Join(parts, " ") + "}"
	}
	return ""
}
