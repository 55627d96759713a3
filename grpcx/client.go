package grpcx

import (
	"context"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/internal/correlation"
)

// NewClient returns a connection to target (grpc.NewClient's syntax) that,
// for every RPC, sends the trace context (otelgrpc's stats handler, a
// client span) and the correlation ID in x-correlation-id (the one of the
// server RPC the call is made from, else CorrelationIDFrom's), and records
// the grpc_client_* series (Metrics). Its keepalive pings agree with
// NewServer's enforcement, and it accepts messages up to MaxRecvMsgSize.
// Credentials come in DialOptions, as gRPC requires.
func NewClient(target string, opts ...ClientOption) (*grpc.ClientConn, error) {
	cfg := clientConfig{common: common{maxRecv: DefaultMaxRecvMsgSize}}
	for _, o := range opts {
		if o != nil {
			o.applyClient(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &clientHandler{idFrom: cfg.idFrom}
	if cfg.reg != nil {
		v, err := newVecs(cfg.reg, "client")
		if err != nil {
			return nil, err
		}
		h.series = &clientSeries{v: v, m: make(map[clientKey]*series), unknown: make(map[string]*series)}
	}
	var otelOpts []otelgrpc.Option
	if cfg.tp != nil {
		otelOpts = append(otelOpts, otelgrpc.WithTracerProvider(cfg.tp))
	}
	if cfg.propagators != nil {
		otelOpts = append(otelOpts, otelgrpc.WithPropagators(cfg.propagators))
	}
	dopts := []grpc.DialOption{
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelOpts...)),
		grpc.WithStatsHandler(h),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.maxRecv)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: ClientPingInterval, Timeout: ClientPingTimeout, PermitWithoutStream: true,
		}),
	}
	return grpc.NewClient(target, append(dopts, cfg.extra...)...)
}

// clientHandler is the client's stats handler: the correlation ID and the
// metrics.
type clientHandler struct {
	idFrom func(context.Context) string
	series *clientSeries // nil without Metrics
}

// call is what the client records about one RPC.
type call struct {
	start  time.Time
	full   string
	series *series
}

type callKey struct{}

func (h *clientHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	id := CorrelationID(ctx)
	if id == "" && h.idFrom != nil {
		id = h.idFrom(ctx)
	}
	if id != "" && correlation.Valid(id) {
		ctx = metadata.AppendToOutgoingContext(ctx, headerID, id)
	}
	if h.series == nil {
		return ctx
	}
	return context.WithValue(ctx, callKey{}, &call{start: time.Now(), full: info.FullMethodName})
}

func (h *clientHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	c, _ := ctx.Value(callKey{}).(*call)
	if c == nil {
		return
	}
	switch ev := s.(type) {
	case *stats.Begin:
		c.series = h.series.get(c.full, rpcType(ev.IsClientStream, ev.IsServerStream))
		c.series.start()
	case *stats.OutPayload:
		if c.series != nil {
			c.series.send()
		}
	case *stats.InPayload:
		if c.series != nil {
			c.series.recv()
		}
	case *stats.End:
		if c.series != nil {
			c.series.done(status.Code(ev.Error), ev.EndTime.Sub(c.start).Seconds(), trace.SpanContextFromContext(ctx))
		}
	}
}

func (*clientHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (*clientHandler) HandleConn(context.Context, stats.ConnStats)                       {}
