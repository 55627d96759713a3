package grpcx

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/internal/correlation"
)

// rpc is what the server records about one RPC, from its tag to its end.
type rpc struct {
	start  time.Time
	full   string
	series *series
	id     string
	log    bool
	peer   net.Addr

	recvd, sent atomic.Int64

	// Set by the interceptor before the handler returns, read at End.
	panicValue any
	stack      []byte
	didPanic   bool
	shed       bool // refused by the Admission option
}

type rpcKey struct{}

// rpcFrom returns the server RPC ctx belongs to, or nil.
func rpcFrom(ctx context.Context) *rpc {
	r, _ := ctx.Value(rpcKey{}).(*rpc)
	return r
}

// CorrelationID returns the correlation ID of the server RPC ctx belongs
// to (the client's x-correlation-id when valid, else a new UUIDv7), or ""
// outside one.
func CorrelationID(ctx context.Context) string {
	if r := rpcFrom(ctx); r != nil {
		return r.id
	}
	return ""
}

func (r *rpc) header() metadata.MD { return metadata.MD{headerID: []string{r.id}} }

func (r *rpc) panicked(v any, stack []byte) {
	if r == nil {
		return
	}
	r.didPanic, r.panicValue, r.stack = true, v, stack
}

// incomingID returns the first valid correlation ID in the request's
// metadata, or a new one. ValueFromIncomingContext copies only the values
// of one key, where FromIncomingContext would copy the whole map.
func incomingID(ctx context.Context, now time.Time) string {
	for _, key := range [...]string{headerID, headerRequest} {
		if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 && correlation.Valid(v[0]) {
			return v[0]
		}
	}
	return correlation.New(now)
}

// serverHandler is the server's stats handler: metrics and the access line.
type serverHandler struct{ s *Server }

func (h *serverHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	now := time.Now()
	r := &rpc{
		start:  now,
		full:   info.FullMethodName,
		series: h.s.seriesOf(info.FullMethodName),
		id:     incomingID(ctx, now),
		log:    h.s.logger != nil && (h.s.cfg.obsHealth || !isHealth(info.FullMethodName)),
	}
	return context.WithValue(ctx, rpcKey{}, r)
}

func (h *serverHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	r := rpcFrom(ctx)
	if r == nil {
		return
	}
	switch ev := s.(type) {
	case *stats.InHeader:
		r.peer = ev.RemoteAddr
	case *stats.Begin:
		r.series.start()
	case *stats.InPayload:
		r.recvd.Add(1)
		r.series.recv()
	case *stats.OutPayload:
		r.sent.Add(1)
		r.series.send()
	case *stats.End:
		st, _ := status.FromError(ev.Error)
		d := ev.EndTime.Sub(r.start)
		sc := trace.SpanContextFromContext(ctx)
		r.series.done(st.Code(), d.Seconds(), sc)
		if r.didPanic && h.s.vecs != nil {
			h.s.vecs.panics.Inc()
		}
		if r.log {
			h.s.logAccess(r, st, d, sc)
		}
	}
}

func (*serverHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (*serverHandler) HandleConn(context.Context, stats.ConnStats)                       {}
