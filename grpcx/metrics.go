package grpcx

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/prodready/prodready/internal/promreg"
)

// The values of grpc_type, as go-grpc-middleware's providers/prometheus
// writes them, and unknown for every label of a method the server does not
// serve or past a client's MaxMethods.
const (
	typeUnary        = "unary"
	typeClientStream = "client_stream"
	typeServerStream = "server_stream"
	typeBidiStream   = "bidi_stream"
	unknown          = "unknown"
)

// maxClientMethods bounds the methods a client's series name; past it they
// are folded into unknown. Generated stubs name a fixed set, so this only
// guards against a caller that builds method names from input.
const maxClientMethods = 512

func rpcType(clientStream, serverStream bool) string {
	switch {
	case clientStream && serverStream:
		return typeBidiStream
	case clientStream:
		return typeClientStream
	case serverStream:
		return typeServerStream
	}
	return typeUnary
}

// numCodes is the number of gRPC status codes (OK … Unauthenticated).
const numCodes = int(codes.Unauthenticated) + 1

// vecs are the collectors of one side, server or client.
type vecs struct {
	started, handled, received, sent *prometheus.CounterVec
	handling                         *prometheus.HistogramVec
	panics                           prometheus.Counter // server only
}

// newVecs makes and registers the go-grpc-middleware providers/prometheus
// series of side ("server" or "client"), with the handling-time histogram
// on and labelled with grpc_code. A registerer that has them already
// lends its own, so two servers on one registry share the series.
func newVecs(reg prometheus.Registerer, side string) (*vecs, error) {
	l3 := []string{"grpc_type", "grpc_service", "grpc_method"}
	l4 := append(l3[:3:3], "grpc_code")
	v := &vecs{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_" + side + "_started_total",
			Help: "Total number of RPCs started on the " + side + "."}, l3),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_" + side + "_handled_total",
			Help: "Total number of RPCs completed on the " + side + ", regardless of success or failure."}, l4),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_" + side + "_msg_received_total",
			Help: "Total number of RPC stream messages received on the " + side + "."}, l3),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_" + side + "_msg_sent_total",
			Help: "Total number of gRPC stream messages sent by the " + side + "."}, l3),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "grpc_" + side + "_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the " + side + ".",
			Buckets: prometheus.DefBuckets}, l4),
	}
	cs := []*prometheus.Collector{new(prometheus.Collector), new(prometheus.Collector), new(prometheus.Collector),
		new(prometheus.Collector), new(prometheus.Collector)}
	*cs[0], *cs[1], *cs[2], *cs[3], *cs[4] = v.started, v.handled, v.received, v.sent, v.handling
	if side == "server" {
		v.panics = prometheus.NewCounter(prometheus.CounterOpts{Name: "grpc_req_panics_recovered_total",
			Help: "Total number of gRPC requests recovered from internal panic."})
		p := prometheus.Collector(v.panics)
		cs = append(cs, &p)
	}
	if err := register(reg, cs); err != nil {
		return nil, err
	}
	v.started, _ = (*cs[0]).(*prometheus.CounterVec)
	v.handled, _ = (*cs[1]).(*prometheus.CounterVec)
	v.received, _ = (*cs[2]).(*prometheus.CounterVec)
	v.sent, _ = (*cs[3]).(*prometheus.CounterVec)
	v.handling, _ = (*cs[4]).(*prometheus.HistogramVec)
	if len(cs) > 5 {
		v.panics, _ = (*cs[5]).(prometheus.Counter)
	}
	return v, nil
}

// register registers cs on reg, sharing collectors already there
// (internal/promreg).
func register(reg prometheus.Registerer, cs []*prometheus.Collector) error {
	if err := promreg.Register(reg, cs); err != nil {
		return fmt.Errorf("grpcx: register gRPC collectors: %w", err)
	}
	return nil
}

// series are one method's children of the vecs, looked up once: the
// per-code ones as each code is first seen.
type series struct {
	typ, service, method string

	v                       *vecs
	started, received, sent prometheus.Counter
	handled                 [numCodes]atomic.Pointer[prometheus.Counter]
	handling                [numCodes]atomic.Pointer[prometheus.Observer]
}

func newSeries(v *vecs, typ, service, method string) *series {
	s := &series{typ: typ, service: service, method: method, v: v}
	if v != nil {
		s.started = v.started.WithLabelValues(typ, service, method)
		s.received = v.received.WithLabelValues(typ, service, method)
		s.sent = v.sent.WithLabelValues(typ, service, method)
	}
	return s
}

// done counts a finished RPC with code c that took seconds, with the
// trace as an exemplar when sc is sampled.
func (s *series) done(c codes.Code, seconds float64, sc trace.SpanContext) {
	if s.v == nil {
		return
	}
	i := int(c)
	if i < 0 || i >= numCodes {
		i = int(codes.Unknown)
	}
	h := s.handled[i].Load()
	o := s.handling[i].Load()
	if h == nil {
		code := codes.Code(i).String() //nolint:gosec // i is within the codes
		hc := s.v.handled.WithLabelValues(s.typ, s.service, s.method, code)
		ho := s.v.handling.WithLabelValues(s.typ, s.service, s.method, code)
		s.handled[i].Store(&hc)
		s.handling[i].Store(&ho)
		h, o = &hc, &ho
	}
	(*h).Inc()
	if eo, ok := (*o).(prometheus.ExemplarObserver); ok && sc.IsSampled() {
		eo.ObserveWithExemplar(seconds, prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	(*o).Observe(seconds)
}

func (s *series) start() {
	if s.started != nil {
		s.started.Inc()
	}
}

func (s *series) recv() {
	if s.received != nil {
		s.received.Inc()
	}
}

func (s *series) send() {
	if s.sent != nil {
		s.sent.Inc()
	}
}

// splitMethod splits "/package.Service/Method" into its service and
// method; ok is false for anything else.
func splitMethod(full string) (service, method string, ok bool) {
	if len(full) < 4 || full[0] != '/' {
		return "", "", false
	}
	for i := len(full) - 1; i > 0; i-- {
		if full[i] == '/' {
			if i == 1 || i == len(full)-1 {
				return "", "", false
			}
			return full[1:i], full[i+1:], true
		}
	}
	return "", "", false
}

// clientSeries hands out a client's series by method and type, folding
// methods past maxClientMethods into unknown.
type clientSeries struct {
	v       *vecs
	mu      sync.Mutex
	m       map[clientKey]*series
	unknown map[string]*series // by type
}

type clientKey struct{ full, typ string }

func (c *clientSeries) get(full, typ string) *series {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[clientKey{full, typ}]; ok {
		return s
	}
	service, method, ok := splitMethod(full)
	if !ok || len(c.m) >= maxClientMethods {
		if s, ok := c.unknown[typ]; ok {
			return s
		}
		s := newSeries(c.v, typ, unknown, unknown)
		c.unknown[typ] = s
		return s
	}
	s := newSeries(c.v, typ, service, method)
	c.m[clientKey{full, typ}] = s
	return s
}
