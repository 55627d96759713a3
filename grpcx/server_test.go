package grpcx_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/grpcx"
)

const svc = "grpc.testing.TestService"

// One RPC from a grpcx client to a grpcx server: the access line, the
// metric series, the exported spans and the correlation ID agree.
func TestServerRecordsOneRPCEverywhere(t *testing.T) {
	e := newEnv(t)
	conn := e.dial(t, grpcx.TracerProvider(e.tp), grpcx.Propagator(propagator), grpcx.Metrics(e.reg),
		grpcx.CorrelationIDFrom(func(context.Context) string { return "order-42" }))
	client := testpb.NewTestServiceClient(conn)

	var hdr metadata.MD
	resp, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: 10}, grpc.Header(&hdr))
	if err != nil || len(resp.GetPayload().GetBody()) != 10 {
		t.Fatalf("UnaryCall = %v, %v", resp, err)
	}
	if got := hdr.Get("x-correlation-id"); len(got) != 1 || got[0] != "order-42" {
		t.Fatalf("x-correlation-id sent back = %q, want the client's order-42", got)
	}

	line := e.line(t, "/UnaryCall")
	spans := e.spans.Ended()
	var server, clientSpan sdktrace.ReadOnlySpan
	for _, s := range spans {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			clientSpan = s
		}
	}
	if server == nil || clientSpan == nil {
		t.Fatalf("spans = %v, want a client and a server span", spans)
	}
	if server.Name() != svc+"/UnaryCall" || server.Parent().SpanID() != clientSpan.SpanContext().SpanID() {
		t.Fatalf("server span %q with parent %v, want %s/UnaryCall under the client span %v",
			server.Name(), server.Parent().SpanID(), svc, clientSpan.SpanContext().SpanID())
	}
	want := map[string]any{
		"msg": "rpc", "level": "info", "method": "/" + svc + "/UnaryCall", "grpc_type": "unary", "code": "OK",
		"correlation_id": "order-42", "trace_id": server.SpanContext().TraceID().String(),
		"span_id": server.SpanContext().SpanID().String(), "msg_received": float64(1), "msg_sent": float64(1),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access line %s = %v, want %v", k, line[k], v)
		}
	}
	if d, ok := line["duration"].(float64); !ok || d <= 0 || d > 5 {
		t.Errorf("access line duration = %v, want seconds", line["duration"])
	}
	if _, ok := line["error_type"]; ok {
		t.Errorf("a successful RPC has error_type %v", line["error_type"])
	}

	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"grpc_server_started_total", labels("unary", svc, "UnaryCall")},
		{"grpc_server_msg_received_total", labels("unary", svc, "UnaryCall")},
		{"grpc_server_msg_sent_total", labels("unary", svc, "UnaryCall")},
		{"grpc_server_handled_total", labels("unary", svc, "UnaryCall", "OK")},
		{"grpc_server_handling_seconds", labels("unary", svc, "UnaryCall", "OK")},
		{"grpc_client_started_total", labels("unary", svc, "UnaryCall")},
		{"grpc_client_msg_sent_total", labels("unary", svc, "UnaryCall")},
		{"grpc_client_msg_received_total", labels("unary", svc, "UnaryCall")},
		{"grpc_client_handled_total", labels("unary", svc, "UnaryCall", "OK")},
		{"grpc_client_handling_seconds", labels("unary", svc, "UnaryCall", "OK")},
	} {
		waitCounter(t, e.reg, c.name, c.labels, 1)
	}
	// The sampled server span is the histogram's exemplar.
	m := metric(t, e.reg, "grpc_server_handling_seconds", labels("unary", svc, "UnaryCall", "OK"))
	var exemplar string
	for _, b := range m.GetHistogram().GetBucket() {
		for _, l := range b.GetExemplar().GetLabel() {
			exemplar = l.GetValue()
		}
	}
	if exemplar != server.SpanContext().TraceID().String() {
		t.Errorf("exemplar trace_id = %q, want the server span's %s", exemplar, server.SpanContext().TraceID())
	}
}

func TestServerStreamTypeAndMessages(t *testing.T) {
	e := newEnv(t)
	stream, err := e.client.StreamingOutputCall(t.Context(), &testpb.StreamingOutputCallRequest{
		ResponseParameters: []*testpb.ResponseParameters{{Size: 1}, {Size: 2}, {Size: 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
		n++
	}
	if n != 3 {
		t.Fatalf("received %d messages, want 3", n)
	}
	waitCounter(t, e.reg, "grpc_server_handled_total", labels("server_stream", svc, "StreamingOutputCall", "OK"), 1)
	waitCounter(t, e.reg, "grpc_server_msg_sent_total", labels("server_stream", svc, "StreamingOutputCall"), 3)
	if line := e.line(t, "/StreamingOutputCall"); line["msg_sent"] != float64(3) || line["grpc_type"] != "server_stream" {
		t.Fatalf("access line %v", line)
	}
}

func TestServerCodesAndErrorTypes(t *testing.T) {
	tests := []struct {
		name      string
		code      codes.Code
		level     string
		errorType string
	}{
		{"not found is the caller's", codes.NotFound, "info", ""},
		{"invalid argument is the caller's", codes.InvalidArgument, "info", ""},
		{"internal is ours", codes.Internal, "error", "Internal"},
		{"unavailable is ours", codes.Unavailable, "error", "Unavailable"},
		{"deadline exceeded is a timeout", codes.DeadlineExceeded, "warn", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.client.UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(tt.code), Message: "why"}})
			if status.Code(err) != tt.code {
				t.Fatalf("UnaryCall = %v, want %v", err, tt.code)
			}
			line := e.line(t, "/UnaryCall")
			et, _ := line["error_type"].(string)
			if line["code"] != tt.code.String() || line["level"] != tt.level || et != tt.errorType || line["error"] != "why" {
				t.Fatalf("access line %v: want code %v, level %s, error_type %q, error why", line, tt.code, tt.level, tt.errorType)
			}
			waitCounter(t, e.reg, "grpc_server_handled_total", labels("unary", svc, "UnaryCall", tt.code.String()), 1)
		})
	}
}

// A panic becomes Internal, one error line with the value and stack, and
// a count; the server serves on.
func TestServerRecoversPanic(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.UnaryCall(t.Context(), &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("panic")}})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "boom") {
		t.Fatalf("UnaryCall = %v, want Internal without the panic value", err)
	}
	line := e.line(t, "/UnaryCall")
	if line["level"] != "error" || line["error_type"] != "panic" || line["panic"] != "boom" || line["code"] != "Internal" {
		t.Fatalf("access line %v", line)
	}
	if st, _ := line["stacktrace"].(string); !strings.Contains(st, "testService).UnaryCall") {
		t.Fatalf("stacktrace %q does not name the handler", st)
	}
	waitCounter(t, e.reg, "grpc_req_panics_recovered_total", map[string]string{}, 1)
	waitCounter(t, e.reg, "grpc_server_handled_total", labels("unary", svc, "UnaryCall", "Internal"), 1)
	if n := strings.Count(e.log.String(), "boom"); n != 1 {
		t.Fatalf("the panic appears in %d lines, want 1:\n%s", n, e.log)
	}
	if _, err := e.client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
}

func TestServerDefaultDeadline(t *testing.T) {
	tests := []struct {
		name   string
		opts   []grpcx.Option
		ctx    func(context.Context) (context.Context, context.CancelFunc)
		answer string
	}{
		{"none sent: the default", nil, noDeadline, "30s"},
		{"none sent: Timeout", []grpcx.Option{grpcx.Timeout(2 * time.Hour)}, noDeadline, "2h0m0s"},
		{"none sent: Timeout(0)", []grpcx.Option{grpcx.Timeout(0)}, noDeadline, "none"},
		{"the client's is kept", nil, func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Hour)
		}, "1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts...)
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			resp, err := e.client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("deadline")}})
			if err != nil || string(resp.GetPayload().GetBody()) != tt.answer {
				t.Fatalf("the handler's deadline: %q, %v; want %q", resp.GetPayload().GetBody(), err, tt.answer)
			}
		})
	}
}

func noDeadline(ctx context.Context) (context.Context, context.CancelFunc) { return ctx, func() {} }

func TestNewServerRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  grpcx.Option
	}{
		{"negative timeout", grpcx.Timeout(-time.Second)},
		{"zero message size", grpcx.MaxRecvMsgSize(0)},
		{"zero connection age", grpcx.MaxConnectionAge(0, time.Second)},
		{"negative grace", grpcx.MaxConnectionAge(time.Minute, -time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := grpcx.NewServer(tt.opt); err == nil || !strings.HasPrefix(err.Error(), "grpcx: ") {
				t.Fatalf("NewServer = %v, want a grpcx error", err)
			}
		})
	}
	if _, err := grpcx.NewClient("localhost:1", grpcx.MaxRecvMsgSize(-1)); err == nil {
		t.Fatal("NewClient accepted MaxRecvMsgSize(-1)")
	}
}

// Two servers on one registry share the series instead of failing.
func TestServersShareRegistry(t *testing.T) {
	e := newEnv(t)
	if _, err := grpcx.NewServer(grpcx.Metrics(e.reg)); err != nil {
		t.Fatalf("a second server on the registry: %v", err)
	}
}

// GracefulStop ends an open stream: its handler returns, the client gets
// Unavailable, and GracefulStop returns.
func TestGracefulStopEndsStreams(t *testing.T) {
	e := newEnv(t)
	stream, err := e.client.StreamingOutputCall(t.Context(), &testpb.StreamingOutputCallRequest{
		ResponseParameters: []*testpb.ResponseParameters{{Size: 1}}, Payload: &testpb.Payload{Body: []byte("hold")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	<-e.svc.streamOpen
	stopped := make(chan struct{})
	go func() {
		e.srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop did not return with a stream open")
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("the stream ended with %v, want Unavailable", err)
	}
	if err := <-e.served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	e.served <- nil // for the cleanup
	line := e.line(t, "/StreamingOutputCall")
	if line["code"] != "Unavailable" {
		t.Fatalf("access line %v", line)
	}
}

// attemptCounter counts a client's RPC attempts: a call retried makes more
// than one.
type attemptCounter struct{ n atomic.Int64 }

func (c *attemptCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *attemptCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *attemptCounter) HandleConn(context.Context, stats.ConnStats) {}
func (c *attemptCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	if b, ok := s.(*stats.Begin); ok && b.Client {
		c.n.Add(1)
	}
}

// A stream that reaches the server once GracefulStop began, on a
// connection whose client has not seen the GOAWAY yet, is refused with
// Unavailable before any header: a trailers-only answer, which a client's
// retry policy may retry on another connection (an answer with headers
// commits the RPC; gRPC's retry design, A6). The correlation ID comes back
// in the trailer.
func TestStreamRefusedInDrainIsRetriable(t *testing.T) {
	e := newEnv(t)
	e.srv.DrainStreams()
	var attempts attemptCounter
	conn := e.dial(t, grpcx.DialOptions(grpc.WithStatsHandler(&attempts), grpc.WithDefaultServiceConfig(`{"methodConfig": [{
		"name": [{"service": "grpc.testing.TestService"}],
		"retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.01s", "backoffMultiplier": 1,
			"retryableStatusCodes": ["UNAVAILABLE"]}}]}`)))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-correlation-id", "order-7")
	var trailer metadata.MD
	stream, err := testpb.NewTestServiceClient(conn).StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{
		ResponseParameters: []*testpb.ResponseParameters{{Size: 1}},
	}, grpc.Trailer(&trailer))
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("the stream ended with %v, want Unavailable", err)
	}
	if n := attempts.n.Load(); n != 3 {
		t.Errorf("%d attempts, want 3: the retry policy did not retry the refusal", n)
	}
	if got := trailer.Get("x-correlation-id"); len(got) != 1 || got[0] != "order-7" {
		t.Errorf("x-correlation-id in the trailer = %q, want order-7", got)
	}
}
