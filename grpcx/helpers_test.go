package grpcx_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/grpcx"
	"github.com/prodready/prodready/internal/testenv"
)

// testService is grpc-go's interop TestService with behaviour the tests
// steer through the request: a payload body "panic" panics, "deadline"
// answers whether the context has one, a ResponseStatus is returned as
// the error; StreamingOutputCall sends one message per ResponseParameters
// entry and, with the body "hold", stays open until its context ends.
type testService struct {
	testpb.UnimplementedTestServiceServer
	streamOpen chan struct{} // receives once per held stream, when it holds
	flooded    atomic.Int64  // messages a "flood" stream sent
	floodDone  chan error    // what a "flood" stream's handler returned
	calls      atomic.Int64  // UnaryCall handler runs
}

func (s *testService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.calls.Add(1)
	if st := req.GetResponseStatus(); st != nil {
		return nil, status.Error(codes.Code(st.GetCode()), st.GetMessage()) //nolint:gosec // a test's code
	}
	switch string(req.GetPayload().GetBody()) {
	case "panic":
		panic("boom")
	case "deadline":
		d, ok := ctx.Deadline()
		body := "none"
		if ok {
			body = time.Until(d).Round(time.Second).String()
		}
		return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: []byte(body)}}, nil
	}
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: make([]byte, req.GetResponseSize())}}, nil
}

func (s *testService) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	for _, p := range req.GetResponseParameters() {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
			return err
		}
	}
	if string(req.GetPayload().GetBody()) == "flood" {
		msg := &testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, 64<<10)}}
		for {
			if err := stream.Send(msg); err != nil {
				s.floodDone <- err
				return err
			}
			s.flooded.Add(1)
		}
	}
	if string(req.GetPayload().GetBody()) == "hold" {
		if s.streamOpen != nil {
			s.streamOpen <- struct{}{}
		}
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	return nil
}

// env is a served grpcx.Server with its log, registry and spans, and a
// client connection made by grpcx.NewClient.
type env struct {
	srv    *grpcx.Server
	svc    *testService
	addr   string
	log    *testenv.LogBuffer
	reg    *prometheus.Registry
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	conn   *grpc.ClientConn
	client testpb.TestServiceClient
	served chan error
}

var propagator = propagation.TraceContext{}

func newEnv(t *testing.T, opts ...grpcx.Option) *env {
	t.Helper()
	e := &env{log: &testenv.LogBuffer{}, reg: prometheus.NewRegistry(), spans: tracetest.NewSpanRecorder(),
		svc: &testService{streamOpen: make(chan struct{}, 16), floodDone: make(chan error, 1)}, served: make(chan error, 1)}
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.spans))
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{TimeKey: "time", LevelKey: "level", MessageKey: "msg",
		EncodeTime: zapcore.RFC3339NanoTimeEncoder, EncodeLevel: zapcore.LowercaseLevelEncoder, EncodeDuration: zapcore.SecondsDurationEncoder})
	logger := zap.New(zapcore.NewCore(enc, zapcore.AddSync(e.log), zapcore.DebugLevel))
	all := append([]grpcx.Option{grpcx.Logger(logger), grpcx.Metrics(e.reg), grpcx.TracerProvider(e.tp), grpcx.Propagator(propagator)}, opts...)
	srv, err := grpcx.NewServer(all...)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	testpb.RegisterTestServiceServer(srv, e.svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go func() { e.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		<-e.served
	})
	e.conn = e.dial(t)
	e.client = testpb.NewTestServiceClient(e.conn)
	return e
}

func (e *env) dial(t *testing.T, opts ...grpcx.ClientOption) *grpc.ClientConn {
	t.Helper()
	all := append([]grpcx.ClientOption{grpcx.DialOptions(grpc.WithTransportCredentials(insecure.NewCredentials()))}, opts...)
	conn, err := grpcx.NewClient(e.addr, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// line waits for the access line of the RPC whose method ends in method
// and that has the field key=value, and returns it decoded.
func (e *env) line(t *testing.T, method string) map[string]any {
	t.Helper()
	e.log.WaitLine(t, method+`"`, 5*time.Second)
	for _, l := range e.log.JSON(t) {
		if m, _ := l["method"].(string); strings.HasSuffix(m, method) {
			return l
		}
	}
	t.Fatalf("no access line for %s in:\n%s", method, e.log)
	return nil
}

// counter returns the value of the series name with exactly labels, or -1.
func counter(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m := metric(t, g, name, labels)
	switch {
	case m == nil:
		return -1
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

func metric(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

// waitCounter waits until the series reaches want: the server records an
// RPC's end after the client has its answer.
func waitCounter(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := counter(t, g, name, labels)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(time.Millisecond) // a poll bound by the deadline above
	}
}

func labels(typ, service, method string, code ...string) map[string]string {
	l := map[string]string{"grpc_type": typ, "grpc_service": service, "grpc_method": method}
	if len(code) > 0 {
		l["grpc_code"] = code[0]
	}
	return l
}
