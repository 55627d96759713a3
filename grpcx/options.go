package grpcx

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Defaults, in one place. The keepalive values agree between NewServer and
// NewClient: the client pings no more often than the server permits, so
// our own client is never sent GOAWAY "too_many_pings".
const (
	// DefaultMaxRecvMsgSize is the largest message a server or client
	// accepts: 4 MiB, gRPC's own default, set explicitly so that it is a
	// documented contract. A larger message fails with ResourceExhausted.
	DefaultMaxRecvMsgSize = 4 << 20
	// DefaultTimeout is the deadline a unary RPC gets when the client sent
	// none. Streams get none: they are bounded by the client and by the
	// drain (see Server.GracefulStop).
	DefaultTimeout = 30 * time.Second
	// DefaultMaxConcurrentStreams bounds the RPCs one connection may have
	// open at once (gRPC's own default is unbounded).
	DefaultMaxConcurrentStreams = 250
	// DefaultMaxConnectionAge is how long a server keeps a connection
	// before it asks the client to reconnect (GOAWAY; gRPC adds ±10%
	// jitter), so that long-lived HTTP/2 connections spread to new pods
	// after a scale-up or a rollout instead of staying on the old ones.
	DefaultMaxConnectionAge = 5 * time.Minute
	// DefaultMaxConnectionAgeGrace is how long RPCs in flight get after
	// that GOAWAY before the connection is closed.
	DefaultMaxConnectionAgeGrace = 30 * time.Second
	// MinPingInterval is the server's enforcement policy: a client that
	// pings more often is sent GOAWAY. Pings without an open stream are
	// permitted.
	MinPingInterval = 10 * time.Second
	// ClientPingInterval is how often NewClient's connections ping an idle
	// server (at least MinPingInterval), and ClientPingTimeout how long
	// they wait for the answer before the connection counts as dead.
	ClientPingInterval = 30 * time.Second
	ClientPingTimeout  = 10 * time.Second
)

// An Option configures NewServer.
type Option interface{ applyServer(*serverConfig) }

// A ClientOption configures NewClient.
type ClientOption interface{ applyClient(*clientConfig) }

// A SharedOption configures both NewServer and NewClient: the settings both
// sides read.
type SharedOption interface {
	Option
	ClientOption
}

// common is what both sides read.
type common struct {
	reg         prometheus.Registerer
	tp          trace.TracerProvider
	propagators propagation.TextMapPropagator
	maxRecv     int
}

type serverConfig struct {
	common
	logger      *zap.Logger
	health      Readiness
	obsHealth   bool
	timeout     time.Duration
	admit       Admitter
	maxAge      time.Duration
	maxAgeGrace time.Duration
	extra       []grpc.ServerOption
}

type clientConfig struct {
	common
	idFrom func(context.Context) string
	extra  []grpc.DialOption
}

type bothFunc func(*common)

func (f bothFunc) applyServer(c *serverConfig) { f(&c.common) }
func (f bothFunc) applyClient(c *clientConfig) { f(&c.common) }

type serverFunc func(*serverConfig)

func (f serverFunc) applyServer(c *serverConfig) { f(c) }

type clientFunc func(*clientConfig)

func (f clientFunc) applyClient(c *clientConfig) { f(c) }

// Metrics registers the RPC series on reg (see the package doc for the
// names); without it, or with nil, no metrics are recorded. A second
// NewServer or NewClient on the same registerer shares the series.
func Metrics(reg prometheus.Registerer) SharedOption {
	return bothFunc(func(c *common) { c.reg = reg })
}

// TracerProvider sets where spans go (otelgrpc's stats handler); without
// it, or with nil, the global provider that tracing.Setup sets.
func TracerProvider(tp trace.TracerProvider) SharedOption {
	return bothFunc(func(c *common) { c.tp = tp })
}

// Propagators sets how trace context is read from and written to the
// metadata; without it, or with nil, the global propagator (W3C
// traceparent once tracing.Setup ran).
func Propagator(p propagation.TextMapPropagator) SharedOption {
	return bothFunc(func(c *common) { c.propagators = p })
}

// MaxRecvMsgSize sets the largest message accepted, in bytes (default
// DefaultMaxRecvMsgSize); a larger one fails with ResourceExhausted.
func MaxRecvMsgSize(n int) SharedOption {
	return bothFunc(func(c *common) { c.maxRecv = n })
}

// Logger sets the logger of the access lines (one per RPC, see the package
// doc); without it, or with nil, no access lines are written. Panics are
// recovered and counted either way.
func Logger(l *zap.Logger) Option {
	return serverFunc(func(c *serverConfig) { c.logger = l })
}

// Health serves grpc.health.v1.Health from h: SERVING while h.Ready
// reports true, for the server ("") and for every service registered on
// the server. A *health.Checker is a Readiness. Without it no health service
// is registered.
func Health(h Readiness) Option {
	return serverFunc(func(c *serverConfig) { c.health = h })
}

// ObserveHealth writes access lines and spans for the health service's RPCs (by
// default they are left out of access lines and spans, as probes are on
// the HTTP side; they are still counted).
func ObserveHealth(on bool) Option {
	return serverFunc(func(c *serverConfig) { c.obsHealth = on })
}

// Timeout sets the deadline of a unary RPC whose client sent none
// (default DefaultTimeout); 0 leaves such RPCs without one.
func Timeout(d time.Duration) Option {
	return serverFunc(func(c *serverConfig) { c.timeout = d })
}

// MaxConnectionAge sets how long a connection lives before the server asks
// the client to reconnect, and the grace its RPCs get then (defaults
// DefaultMaxConnectionAge and DefaultMaxConnectionAgeGrace). A stream that
// must outlive age+grace is cut and must be re-opened by its client.
func MaxConnectionAge(age, grace time.Duration) Option {
	return serverFunc(func(c *serverConfig) { c.maxAge, c.maxAgeGrace = age, grace })
}

// An Admitter admits an RPC before its handler runs, or refuses it:
// *server.Admission satisfies it, so the HTTP and gRPC ports of a service
// share one admission path. release is called when the handler returns.
type Admitter interface {
	Admit(ctx context.Context) (release func(), err error)
}

// Admission puts every RPC but the health service's through a: one it
// refuses is answered RESOURCE_EXHAUSTED before the handler runs, and its
// access line, metric and span say so (error_type "shed"). Health RPCs
// (the probes) are never refused and never feed a's latency estimate.
func Admission(a Admitter) Option {
	return serverFunc(func(c *serverConfig) { c.admit = a })
}

// ServerOptions adds gRPC's own server options (credentials, more
// interceptors), applied after prodready's: an interceptor given here runs
// inside prodready's, so its panics are recovered and its time counted.
func ServerOptions(opts ...grpc.ServerOption) Option {
	return serverFunc(func(c *serverConfig) { c.extra = append(c.extra, opts...) })
}

// CorrelationIDFrom sets where a client finds the correlation ID to send
// in x-correlation-id when the RPC is not made from inside a gRPC server
// RPC of NewServer (which forwards its own): logging.CorrelationID for a
// call made while serving an HTTP request.
func CorrelationIDFrom(fn func(context.Context) string) ClientOption {
	return clientFunc(func(c *clientConfig) { c.idFrom = fn })
}

// DialOptions adds gRPC's own dial options. Credentials are required by
// gRPC: grpc.WithTransportCredentials(insecure.NewCredentials()) for
// plaintext.
func DialOptions(opts ...grpc.DialOption) ClientOption {
	return clientFunc(func(c *clientConfig) { c.extra = append(c.extra, opts...) })
}

func (c *common) validate() error {
	if c.maxRecv <= 0 {
		return fmt.Errorf("grpcx: MaxRecvMsgSize(%d): want a positive size", c.maxRecv)
	}
	return nil
}

func (c *serverConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	switch {
	case c.timeout < 0:
		return fmt.Errorf("grpcx: Timeout(%v): want 0 or more", c.timeout)
	case c.maxAge <= 0 || c.maxAgeGrace < 0:
		return fmt.Errorf("grpcx: MaxConnectionAge(%v, %v): want a positive age and a grace of 0 or more", c.maxAge, c.maxAgeGrace)
	}
	return nil
}
