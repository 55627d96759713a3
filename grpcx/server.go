package grpcx

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/internal/request"
)

// Server is a *grpc.Server with prodready's stats handlers and
// interceptors. Register services on it as on the embedded server, serve
// it with shutdown.Manager's ServeGRPC (or Serve). Its GracefulStop and
// Stop end the contexts of open streams first.
type Server struct {
	*grpc.Server

	cfg    serverConfig
	logger *zap.Logger
	vecs   *vecs // nil without Metrics

	// drained ends the contexts of the streams in flight and of those
	// that start later.
	drained context.Context
	drain   context.CancelFunc

	methods     func() map[string]*series // known methods, read at the first RPC
	services    func() map[string]bool    // registered services, likewise
	unknownRPCs *series
}

// headerID is the metadata key of the correlation ID, sent back in the
// response headers and forwarded by NewClient's connections. x-request-id
// is read when it is missing, as the HTTP side reads X-Request-ID.
const (
	headerID      = "x-correlation-id"
	headerRequest = "x-request-id"
)

const healthPrefix = "/grpc.health.v1.Health/"

// errDraining is the cause that ends a stream's context at GracefulStop.
var errDraining = errors.New("grpcx: server is stopping")

// NewServer returns a gRPC server that, for every RPC, records the
// go-grpc-middleware metric series (Metrics), a span through otelgrpc's
// stats handler (health RPCs left out), one JSON access line (Logger),
// recovers a panic into codes.Internal, sends the correlation ID back in
// x-correlation-id, and gives a unary RPC without a deadline Timeout. Its
// connections have keepalive enforcement and a maximum age (see the
// constants), at most DefaultMaxConcurrentStreams streams each, and a
// MaxRecvMsgSize limit. With Health it serves grpc.health.v1.Health.
// Bad options are an error.
func NewServer(opts ...Option) (*Server, error) {
	cfg := serverConfig{
		common:      common{maxRecv: DefaultMaxRecvMsgSize},
		timeout:     DefaultTimeout,
		maxAge:      DefaultMaxConnectionAge,
		maxAgeGrace: DefaultMaxConnectionAgeGrace,
	}
	for _, o := range opts {
		if o != nil {
			o.applyServer(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: cfg.logger}
	if cfg.reg != nil {
		v, err := newVecs(cfg.reg, "server")
		if err != nil {
			return nil, err
		}
		s.vecs = v
	}
	s.unknownRPCs = newSeries(s.vecs, unknown, unknown, unknown)
	s.drained, s.drain = context.WithCancel(context.Background())

	otelOpts := []otelgrpc.Option{otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool {
		return cfg.obsHealth || !isHealth(info.FullMethodName)
	})}
	if cfg.tp != nil {
		otelOpts = append(otelOpts, otelgrpc.WithTracerProvider(cfg.tp))
	}
	if cfg.propagators != nil {
		otelOpts = append(otelOpts, otelgrpc.WithPropagators(cfg.propagators))
	}
	gopts := []grpc.ServerOption{
		// otelgrpc first: its TagRPC puts the span in the context that
		// ours reads for the access line and the exemplar.
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelOpts...)),
		grpc.StatsHandler(&serverHandler{s: s}),
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
		// Unknown methods go through the interceptors and the stats
		// handler like any RPC, so each gets its access line and is
		// counted (under unknown), instead of gRPC answering Unimplemented
		// before any of them runs.
		grpc.UnknownServiceHandler(unknownMethod),
		grpc.MaxRecvMsgSize(cfg.maxRecv),
		grpc.MaxConcurrentStreams(DefaultMaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: MinPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      cfg.maxAge,
			MaxConnectionAgeGrace: cfg.maxAgeGrace,
			Time:                  2 * ClientPingInterval, // a silent client is checked after this
			Timeout:               ClientPingTimeout,
		}),
	}
	s.Server = grpc.NewServer(append(gopts, cfg.extra...)...)
	s.methods = sync.OnceValue(s.knownMethods)
	s.services = sync.OnceValue(func() map[string]bool {
		m := make(map[string]bool)
		for name := range s.GetServiceInfo() {
			m[name] = true
		}
		return m
	})
	if cfg.health != nil {
		healthpb.RegisterHealthServer(s.Server, &healthService{srv: s, r: cfg.health})
	}
	return s, nil
}

// GracefulStop ends the contexts of open streams (a stream's handler sees
// its context done and returns; its client gets Unavailable and may retry
// on another connection), then stops the server gracefully: no new
// connections, GOAWAY to the clients, unary RPCs in flight finish. Without
// the first step a single client watching a stream would keep
// grpc.Server.GracefulStop from ever returning (grpc-go#2448).
func (s *Server) GracefulStop() {
	s.drain()
	s.Server.GracefulStop()
}

// Stop ends the contexts of open streams and closes every connection at
// once.
func (s *Server) Stop() {
	s.drain()
	s.Server.Stop()
}

// knownMethods lists the methods registered on the server, with their
// series. Services cannot be registered once the server serves, so the
// list read at the first RPC is the final one.
func (s *Server) knownMethods() map[string]*series {
	m := make(map[string]*series)
	for service, info := range s.GetServiceInfo() {
		for _, mi := range info.Methods {
			m["/"+service+"/"+mi.Name] = newSeries(s.vecs, rpcType(mi.IsClientStream, mi.IsServerStream), service, mi.Name)
		}
	}
	return m
}

func (s *Server) seriesOf(full string) *series {
	if se, ok := s.methods()[full]; ok {
		return se
	}
	return s.unknownRPCs
}

func isHealth(full string) bool {
	return len(full) > len(healthPrefix) && full[:len(healthPrefix)] == healthPrefix
}

// unary sends the correlation ID back, sets the default deadline and
// recovers a panic.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	r := rpcFrom(ctx)
	release, err := s.admit(ctx, r, info.FullMethod)
	if err != nil {
		return nil, refuse(ctx, r, err)
	}
	defer release()
	if r != nil {
		_ = grpc.SetHeader(ctx, r.header()) // fails only once headers were sent: not yet
	}
	if s.cfg.timeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.cfg.timeout)
			defer cancel()
		}
	}
	defer func() {
		if v := recover(); v != nil {
			r.panicked(v, debug.Stack())
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
	}()
	return handler(ctx, req)
}

// stream sends the correlation ID back, ties the stream's context to the
// drain and recovers a panic.
func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	ctx := ss.Context()
	r := rpcFrom(ctx)
	if s.drained.Err() != nil {
		// A stream opened after GracefulStop began, on a connection its
		// GOAWAY has not reached yet: refused before the handler runs, so
		// the client re-opens it on a new connection.
		return refuse(ctx, r, status.Error(codes.Unavailable, errDraining.Error()))
	}
	release, err := s.admit(ctx, r, info.FullMethod)
	if err != nil {
		return refuse(ctx, r, err)
	}
	defer release()
	if r != nil {
		_ = ss.SetHeader(r.header())
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.drained, func() { cancel(errDraining) })
	defer func() {
		stop()
		if v := recover(); v != nil {
			r.panicked(v, debug.Stack())
			err = status.Error(codes.Internal, "internal error")
		} else if err != nil && context.Cause(ctx) == errDraining { //nolint:errorlint // our own sentinel, never wrapped
			err = status.Error(codes.Unavailable, errDraining.Error())
		}
		cancel(nil)
	}()
	return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
}

// refuse returns err, the status of an RPC refused before its handler
// ran, with the correlation ID in the trailer and no header: the answer is
// trailers-only, which a client's retry policy may retry (an answer with
// headers commits the RPC: gRPC's retry design, A6), so a stream refused
// by a draining server is tried again on a new connection.
func refuse(ctx context.Context, r *rpc, err error) error {
	if r != nil {
		_ = grpc.SetTrailer(ctx, r.header()) // fails only once the RPC ended: not yet
	}
	return err
}

// errShed is the status of an RPC the Admission option refused.
var errShed = status.Error(codes.ResourceExhausted, "server overloaded: retry later, preferably elsewhere")

// admit puts the RPC through the Admission option, if any; health RPCs
// pass untouched. It returns the release to defer, or errShed.
func (s *Server) admit(ctx context.Context, r *rpc, full string) (func(), error) {
	if s.cfg.admit == nil || isHealth(full) {
		return noRelease, nil
	}
	release, err := s.cfg.admit.Admit(ctx)
	if err != nil {
		if r != nil {
			r.shed = true
		}
		// otelgrpc's span carries the code; error.type says why.
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("error.type", request.FailShed))
		return nil, errShed
	}
	return release, nil
}

func noRelease() {}

// serverStream is a ServerStream with the context the interceptor made.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// unknownMethod answers a method no service serves, as gRPC does itself
// without an UnknownServiceHandler.
func unknownMethod(_ any, ss grpc.ServerStream) error {
	m, _ := grpc.MethodFromServerStream(ss)
	return status.Errorf(codes.Unimplemented, "unknown method %s", bounded(m, maxMethodBytes))
}
