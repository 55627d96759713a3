package prodready_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/grpcx"
	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/shutdown"
	"github.com/prodready/prodready/tracing"
)

// The gRPC health service answers from the same Checker as /readyz.
var _ grpcx.Readiness = (*health.Checker)(nil)

// streamService holds StreamingOutputCall open until its context ends, as
// a Watch does, and answers UnaryCall.
type streamService struct {
	testpb.UnimplementedTestServiceServer
	open chan struct{}
}

func (s *streamService) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{}, nil
}

func (s *streamService) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	s.open <- struct{}{}
	<-stream.Context().Done()
	return stream.Context().Err()
}

// A gRPC server wired as a main wires it: health from the Checker that
// shutdown drains, served by the shutdown Manager. A shutdown with a
// stream and a health Watch open: the Watch reads NOT_SERVING at the
// drain, the stream ends with Unavailable when the servers stop, and the
// shutdown is clean and well inside its budget.
func TestGRPCShutdownWithHealthAndOpenStream(t *testing.T) {
	const drain, budget = 200 * time.Millisecond, 5 * time.Second
	checks := health.New(health.Logger(slog.New(slog.DiscardHandler)))
	checks.AddReadiness("db", func(context.Context) error { return nil })
	sd := shutdown.New(shutdown.Signals(), shutdown.DrainDelay(drain), shutdown.Timeout(budget),
		shutdown.Logger(slog.New(slog.DiscardHandler)))
	sd.OnDrain(checks.Drain)
	srv, err := grpcx.NewServer(grpcx.Health(checks))
	if err != nil {
		t.Fatal(err)
	}
	svc := &streamService{open: make(chan struct{}, 1)}
	testpb.RegisterTestServiceServer(srv, svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sd.ServeGRPC(srv, ln)
	conn, err := grpcx.NewClient(ln.Addr().String(), grpcx.DialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	hw, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "grpc.testing.TestService"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := hw.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v, %v; want SERVING", st, err)
	}
	stream, err := testpb.NewTestServiceClient(conn).StreamingOutputCall(t.Context(), &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	<-svc.open

	start := time.Now()
	sd.Trigger(nil)
	if st, err := hw.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after the trigger: %v, %v; want NOT_SERVING", st, err)
	}
	if d := time.Since(start); d >= drain {
		t.Errorf("NOT_SERVING %v after the trigger, not within the %v drain", d, drain)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("the open stream ended with %v, want Unavailable", err)
	}
	if err := sd.Wait(); err != nil {
		t.Fatalf("Wait = %v, want a clean shutdown", err)
	}
	if took := time.Since(start); took > drain+time.Second {
		t.Fatalf("shutdown took %v with a stream open", took)
	}
}

// An HTTP request through the standard middlewares calls a gRPC service
// through grpcx.NewClient: the gRPC server's access line carries the
// request's correlation ID and trace.
func TestHTTPToGRPCPropagation(t *testing.T) {
	prop := propagation.TraceContext{}
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	var grpcLog testenv.LogBuffer
	srv, err := grpcx.NewServer(grpcx.Logger(zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(&grpcLog), zap.InfoLevel))), grpcx.TracerProvider(tp), grpcx.Propagator(prop))
	if err != nil {
		t.Fatal(err)
	}
	testpb.RegisterTestServiceServer(srv, &streamService{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { srv.Stop(); <-served }()
	conn, err := grpcx.NewClient(ln.Addr().String(), grpcx.TracerProvider(tp), grpcx.Propagator(prop),
		grpcx.CorrelationIDFrom(logging.CorrelationID),
		grpcx.DialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)

	var traceID string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := client.UnaryCall(r.Context(), &testpb.SimpleRequest{}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		traceID = tracing.TraceID(r.Context())
	})
	var httpLog testenv.LogBuffer
	h := tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(prop))(
		logging.Middleware(zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&httpLog), zap.InfoLevel)))(handler))
	ts := httptest.NewServer(h)
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/x", nil)
	req.Header.Set("X-Correlation-ID", "http-to-grpc-1")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || traceID == "" {
		t.Fatalf("status %d, trace %q", resp.StatusCode, traceID)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(grpcLog.WaitLine(t, "UnaryCall", 5*time.Second)), &line); err != nil {
		t.Fatal(err)
	}
	if line["correlation_id"] != "http-to-grpc-1" || line["trace_id"] != traceID {
		t.Fatalf("gRPC access line %v: want correlation_id http-to-grpc-1 and trace_id %s", line, traceID)
	}
	if l := httpLog.WaitLine(t, `"correlation_id"`, 5*time.Second); !strings.Contains(l, "http-to-grpc-1") || !strings.Contains(l, traceID) {
		t.Fatalf("HTTP access line %s: want the same correlation ID and trace", l)
	}
}
