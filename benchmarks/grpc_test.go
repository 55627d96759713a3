package benchmarks_test

import (
	"context"
	"io"
	"net"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/prodready/prodready/grpcx"
)

type echoService struct {
	testpb.UnimplementedTestServiceServer
}

func (echoService) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

// anchorZap is go-grpc-middleware's own zap adapter, as its
// interceptors/logging examples write it.
func anchorZap(l *zap.Logger) logging.Logger {
	return logging.LoggerFunc(func(_ context.Context, lvl logging.Level, msg string, fields ...any) {
		f := make([]zap.Field, 0, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			key, _ := fields[i].(string)
			switch v := fields[i+1].(type) {
			case string:
				f = append(f, zap.String(key, v))
			case int:
				f = append(f, zap.Int(key, v))
			case bool:
				f = append(f, zap.Bool(key, v))
			default:
				f = append(f, zap.Any(key, v))
			}
		}
		logger := l.WithOptions(zap.AddCallerSkip(1)).With(f...)
		switch lvl {
		case logging.LevelDebug:
			logger.Debug(msg)
		case logging.LevelInfo:
			logger.Info(msg)
		case logging.LevelWarn:
			logger.Warn(msg)
		default:
			logger.Error(msg)
		}
	})
}

// anchorServer is the stack a team assembles from the anchors, as their
// examples wire it: otelgrpc's stats handler, go-grpc-middleware v2's
// providers/prometheus server metrics with the handling-time histogram
// and trace exemplars, its logging interceptor (one line at the end of
// each call, with the trace ID) through zap, and its recovery interceptor
// counting panics.
func anchorServer(b *testing.B, logger *zap.Logger, reg *prometheus.Registry, tp trace.TracerProvider) *grpc.Server {
	srvMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	panics := prometheus.NewCounter(prometheus.CounterOpts{Name: "grpc_req_panics_recovered_total"})
	reg.MustRegister(srvMetrics, panics)
	exemplar := func(ctx context.Context) prometheus.Labels {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			return prometheus.Labels{"trace_id": sc.TraceID().String()}
		}
		return nil
	}
	traceFields := func(ctx context.Context) logging.Fields {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			return logging.Fields{"trace_id", sc.TraceID().String()}
		}
		return nil
	}
	srv := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp))),
		grpc.ChainUnaryInterceptor(
			srvMetrics.UnaryServerInterceptor(grpcprom.WithExemplarFromContext(exemplar)),
			logging.UnaryServerInterceptor(anchorZap(logger), logging.WithLogOnEvents(logging.FinishCall), logging.WithFieldsFromContext(traceFields)),
			recovery.UnaryServerInterceptor(recovery.WithRecoveryHandler(func(any) error {
				panics.Inc()
				return status.Error(codes.Internal, "internal error")
			})),
		),
	)
	_ = b
	return srv
}

// BenchmarkGRPCStack is BenchmarkStack's question for gRPC: the cost per
// unary RPC of spans, metrics, an access line and recovery together,
// against the anchors stacked. The same plain client calls each server
// over an in-memory connection (bufconn), one RPC at a time, so the
// differences are the servers' stacks; bare is the floor.
//
//	impl=bare       grpc.NewServer with nothing
//	impl=prodready  grpcx.NewServer(Logger, Metrics, TracerProvider)
//	impl=anchors    otelgrpc + go-grpc-middleware v2 providers/prometheus
//	                (histogram on) + logging (zap) + recovery
//
// Every span is sampled into a batch processor; every line is JSON to
// io.Discard. Compare with benchstat -filter .name:GRPCStack -col /impl.
func BenchmarkGRPCStack(b *testing.B) {
	newLogger := func() *zap.Logger {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		return zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel))
	}
	stacks := []struct {
		name  string
		build func(b *testing.B) *grpc.Server
	}{
		{"bare", func(*testing.B) *grpc.Server { return grpc.NewServer() }},
		{"prodready", func(b *testing.B) *grpc.Server {
			srv, err := grpcx.NewServer(grpcx.Logger(newLogger()), grpcx.Metrics(prometheus.NewRegistry()),
				grpcx.TracerProvider(stackProvider(b)))
			if err != nil {
				b.Fatal(err)
			}
			return srv.Server
		}},
		{"anchors", func(b *testing.B) *grpc.Server {
			return anchorServer(b, newLogger(), prometheus.NewRegistry(), stackProvider(b))
		}},
	}
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}}
	for _, s := range stacks {
		b.Run("impl="+s.name, func(b *testing.B) {
			srv := s.build(b)
			testpb.RegisterTestServiceServer(srv, echoService{})
			ln := bufconn.Listen(1 << 20)
			go func() { _ = srv.Serve(ln) }()
			defer srv.Stop()
			conn, err := grpc.NewClient("passthrough:///bufnet",
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := testpb.NewTestServiceClient(conn)
			ctx := context.Background()
			if _, err := client.UnaryCall(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.UnaryCall(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
