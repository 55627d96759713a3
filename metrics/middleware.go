package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/prodready/prodready/internal/promreg"
	"github.com/prodready/prodready/internal/request"
)

// ErrNilRegisterer is returned by Middleware and Transport when they have
// nowhere to register.
var ErrNilRegisterer = errors.New("metrics: nil prometheus.Registerer")

// serverMetrics holds the server series of one registry and the children
// resolved from them. It is safe for concurrent use.
type serverMetrics struct {
	cfg      config
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	size     *prometheus.HistogramVec
	table    *table
	gauges   [request.NumMethods]atomic.Pointer[gaugeRef]
}

type gaugeRef struct{ g prometheus.Gauge }

// Middleware returns middleware that counts and times every request the
// next handler serves, with the server series registered on reg; it never
// touches prometheus.DefaultRegisterer unless reg is it. Put it anywhere
// around the router (before or after other middlewares, ours or not; see
// prodready.Routes and prodready.RouteFunc for one of yours between it and
// the router): the route label is the matched route's template,
// "unmatched" when none matched. For exemplars, the tracing middleware
// must run outside this one, so that the span is in the request context it
// sees.
//
// A request that failed is labelled with its error_type (see the package
// documentation); a handler that panics is counted with the status it
// sent, or 500 (the answer prodready's middlewares give it). Requests for
// SkipPaths are not counted. Applied twice to one request, it counts it
// once.
//
// Called again on the same registerer (two servers sharing one registry),
// it reuses the collectors already registered there. It returns an error,
// and registers nothing, when an option is invalid or a collector clashes
// with a different one of the same name.
func Middleware(reg prometheus.Registerer, opts ...Option) (func(http.Handler) http.Handler, error) {
	cfg := defaults()
	for _, o := range opts {
		o.applyServer(&cfg)
	}
	m, err := newServerMetrics(reg, cfg)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			request.Serve(request.Metrics, r.Context(), w, r, next, m)
		})
	}, nil
}

func newServerMetrics(reg prometheus.Registerer, cfg config) (*serverMetrics, error) {
	if reg == nil {
		return nil, ErrNilRegisterer
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	labels := []string{"method", "route", "code", "error_type"}
	var requests, duration, inFlight, size prometheus.Collector
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: cfg.namespace, Name: "http_requests_total", ConstLabels: cfg.constLabels,
		Help: "Number of HTTP requests served, by method, route template, status code and error type (empty for a success).",
	}, labels)
	duration = prometheus.NewHistogramVec(cfg.histogram("http_request_duration_seconds",
		"Time from receiving an HTTP request to the handler's return, in seconds."), labels)
	inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: cfg.namespace, Name: "http_requests_in_flight", ConstLabels: cfg.constLabels,
		Help: "Number of HTTP requests being served, by method.",
	}, []string{"method"})
	size = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: cfg.namespace, Name: "http_response_size_bytes", ConstLabels: cfg.constLabels,
		Help:    "Size of HTTP response bodies, in bytes.",
		Buckets: sizeBuckets(),
	}, labels)
	if err := register(reg, []*prometheus.Collector{&requests, &duration, &inFlight, &size}); err != nil {
		return nil, err
	}
	m := &serverMetrics{
		cfg:      cfg,
		requests: requests.(*prometheus.CounterVec),
		duration: duration.(*prometheus.HistogramVec),
		inFlight: inFlight.(*prometheus.GaugeVec),
		size:     size.(*prometheus.HistogramVec),
	}
	m.table = newTable(cfg.maxRoutes, func(method, route, code, errType string) *series {
		return &series{
			requests:   m.requests.WithLabelValues(method, route, code, errType),
			duration:   m.duration.WithLabelValues(method, route, code, errType).(observer),
			size:       m.size.WithLabelValues(method, route, code, errType),
			exemplarAt: make([]atomic.Int64, len(cfg.buckets)+1),
		}
	}, request.Unmatched, request.Invalid)
	return m, nil
}

// register registers cs on reg, sharing collectors already there
// (internal/promreg).
func register(reg prometheus.Registerer, cs []*prometheus.Collector) error {
	if err := promreg.Register(reg, cs); err != nil {
		return fmt.Errorf("metrics: register HTTP collectors: %w", err)
	}
	return nil
}

func (c *config) validate() error {
	if c.maxRoutes < 1 {
		return fmt.Errorf("metrics: MaxRoutes(%d): want at least 1", c.maxRoutes)
	}
	if c.maxHosts < 1 {
		return fmt.Errorf("metrics: MaxHosts(%d): want at least 1", c.maxHosts)
	}
	if c.namespace != "" && !validName(c.namespace) {
		return fmt.Errorf("metrics: Namespace(%q): not a valid metric name prefix", c.namespace)
	}
	for _, l := range []string{"method", "route", "code", "error_type", "host"} {
		if _, ok := c.constLabels[l]; ok {
			return fmt.Errorf("metrics: ConstLabels: %q is a label of the HTTP series", l)
		}
	}
	if len(c.buckets) == 0 {
		return errors.New("metrics: Buckets: no boundaries given")
	}
	for i, b := range c.buckets {
		if i > 0 && b <= c.buckets[i-1] {
			return fmt.Errorf("metrics: Buckets: %v is not increasing", c.buckets)
		}
	}
	return nil
}

func (c *config) histogram(name, help string) prometheus.HistogramOpts {
	o := prometheus.HistogramOpts{
		Namespace: c.namespace, Name: name, Help: help, ConstLabels: c.constLabels,
		Buckets: c.buckets,
	}
	if c.nativeBF > 1 {
		o.NativeHistogramBucketFactor = c.nativeBF
		o.NativeHistogramMaxBucketNumber = nativeMaxBuckets
		o.NativeHistogramMinResetDuration = nativeMinReset
	}
	return o
}

// Begin counts the request in flight, unless its path is skipped.
func (m *serverMetrics) Begin(st *request.State, _ http.ResponseWriter, r *http.Request) bool {
	st.SetLogger(m.cfg.log, false)
	if m.cfg.skip.Has(r.URL.Path) {
		return false
	}
	m.gauge(request.MethodIndex(r.Method)).Inc()
	return true
}

// Record counts and times the request.
func (m *serverMetrics) Record(_ *request.State, r *http.Request, o *request.Outcome) {
	method := request.MethodIndex(r.Method)
	m.gauge(method).Dec()
	s := m.table.get(method, o.Route, foldCode(o.Status), o.ErrorType)
	s.requests.Inc()
	observe(m.cfg.exemplars, m.cfg.buckets, r.Context(), s, o.Duration.Seconds(), o.End.UnixNano())
	s.size.Observe(float64(o.Bytes))
}

func (m *serverMetrics) gauge(method int) prometheus.Gauge {
	if p := m.gauges[method].Load(); p != nil {
		return p.g
	}
	// WithLabelValues returns the same child every time, so a race here
	// only stores an equal value twice.
	ref := &gaugeRef{m.inFlight.WithLabelValues(request.Methods[method])}
	m.gauges[method].Store(ref)
	return ref.g
}

// exemplarEvery is how often at most one bucket of one series takes an
// exemplar. A bucket shows only its latest exemplar and Prometheus scrapes
// every few seconds, so more would be thrown away; and an exemplar costs
// some twenty allocations, while with the usual always-on sampler every
// request is sampled. Throttling per bucket keeps one for the rare slow
// request that lands in an upper bucket.
const exemplarEvery = int64(time.Second)

// observe records d, which ended at now (Unix nanoseconds), with the trace
// and span IDs as an exemplar when the span in ctx is sampled and the
// bucket has had no exemplar for exemplarEvery.
func observe(exemplars bool, buckets []float64, ctx context.Context, s *series, d float64, now int64) {
	if exemplars {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			last := &s.exemplarAt[sort.SearchFloat64s(buckets, d)]
			if prev := last.Load(); now-prev >= exemplarEvery && last.CompareAndSwap(prev, now) {
				s.duration.ObserveWithExemplar(d, prometheus.Labels{
					"trace_id": sc.TraceID().String(),
					"span_id":  sc.SpanID().String(),
				})
				return
			}
		}
	}
	s.duration.Observe(d)
}
