package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/prodready/prodready/internal/request"
)

// ErrNilRegisterer is returned by Middleware and Transport when they have
// nowhere to register.
var ErrNilRegisterer = errors.New("metrics: nil prometheus.Registerer")

// httpMetrics holds the collectors of one side (server or client) and the
// series resolved from them. It is safe for concurrent use.
type httpMetrics struct {
	cfg config

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	size     *prometheus.HistogramVec
	server   *table
	gauges   [request.NumMethods]atomic.Pointer[gaugeRef]

	clientRequests *prometheus.CounterVec
	clientDuration *prometheus.HistogramVec
	client         *table
}

type gaugeRef struct{ g prometheus.Gauge }

// The sides newHTTP builds.
const (
	serverSide = 1 << iota
	clientSide
)

// Middleware returns middleware that counts and times every request the
// next handler serves, with the server series registered on reg; it never
// touches prometheus.DefaultRegisterer unless reg is it. Put it anywhere
// around a ServeMux (before or after other middlewares, ours or not; see
// prodready.Routes for one of yours between it and the mux): the route
// label is the matched pattern's template, "unmatched" when none matched.
// For exemplars, the tracing middleware must run outside this one, so that
// the span is in the request context it sees.
//
// A request that failed is labelled with its error_type (see the package
// documentation); a handler that panics is counted with the status it
// sent, or 500, and the panic goes on with its stack intact. Requests for
// SkipPaths pass through untouched. Applied twice to one request, it
// counts it once.
//
// Called again on the same registerer (two servers sharing one registry),
// it reuses the collectors already registered there. It returns an error,
// and registers nothing, when an option is invalid or a collector clashes
// with a different one of the same name.
func Middleware(reg prometheus.Registerer, opts ...Option) (func(http.Handler) http.Handler, error) {
	m, err := build(reg, serverSide, opts)
	if err != nil {
		return nil, err
	}
	return m.middleware, nil
}

// build creates the collectors of the given sides and registers them on
// reg, reusing those already registered there.
func build(reg prometheus.Registerer, sides int, opts []Option) (*httpMetrics, error) {
	if reg == nil {
		return nil, ErrNilRegisterer
	}
	cfg := defaults()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &httpMetrics{cfg: cfg}
	var cs []*prometheus.Collector
	add := func(p *prometheus.Collector) { cs = append(cs, p) }
	var requests, duration, inFlight, size, clientRequests, clientDuration prometheus.Collector
	if sides&serverSide != 0 {
		labels := []string{"method", "route", "code", "error_type"}
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
		add(&requests)
		add(&duration)
		add(&inFlight)
		add(&size)
	}
	if sides&clientSide != 0 {
		clientLabels := []string{"method", "host", "code"}
		clientRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: cfg.namespace, Name: "http_client_requests_total", ConstLabels: cfg.constLabels,
			Help: `Number of outgoing HTTP requests, by method, host and status code ("error" when no response came).`,
		}, clientLabels)
		clientDuration = prometheus.NewHistogramVec(cfg.histogram("http_client_request_duration_seconds",
			"Time from sending an outgoing HTTP request to receiving the response headers, in seconds."), clientLabels)
		add(&clientRequests)
		add(&clientDuration)
	}
	if err := register(reg, cs); err != nil {
		return nil, err
	}
	if sides&serverSide != 0 {
		m.requests = requests.(*prometheus.CounterVec)
		m.duration = duration.(*prometheus.HistogramVec)
		m.inFlight = inFlight.(*prometheus.GaugeVec)
		m.size = size.(*prometheus.HistogramVec)
		m.server = newTable(cfg.maxRoutes, func(method, route, code, errType string) *series {
			return &series{
				requests:   m.requests.WithLabelValues(method, route, code, errType),
				duration:   m.duration.WithLabelValues(method, route, code, errType).(observer),
				size:       m.size.WithLabelValues(method, route, code, errType),
				exemplarAt: make([]atomic.Int64, len(cfg.buckets)+1),
			}
		}, request.Unmatched)
	}
	if sides&clientSide != 0 {
		m.clientRequests = clientRequests.(*prometheus.CounterVec)
		m.clientDuration = clientDuration.(*prometheus.HistogramVec)
		m.client = newTable(cfg.maxHosts, func(method, host, code, _ string) *series {
			return &series{
				requests:   m.clientRequests.WithLabelValues(method, host, code),
				duration:   m.clientDuration.WithLabelValues(method, host, code).(observer),
				exemplarAt: make([]atomic.Int64, len(cfg.buckets)+1),
			}
		})
	}
	return m, nil
}

// register registers each collector on reg. One that is registered there
// already, with the same type, is replaced by the registered one, so that
// a second Middleware or Transport on one registry shares the series. On
// any other error it unregisters what it registered and returns the error.
func register(reg prometheus.Registerer, cs []*prometheus.Collector) error {
	var done []prometheus.Collector
	for _, c := range cs {
		err := reg.Register(*c)
		if err == nil {
			done = append(done, *c)
			continue
		}
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) && reflect.TypeOf(are.ExistingCollector) == reflect.TypeOf(*c) {
			*c = are.ExistingCollector
			continue
		}
		for _, d := range done {
			reg.Unregister(d)
		}
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

// middleware counts and times every request that next serves.
func (m *httpMetrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.cfg.skip != nil {
			if _, ok := m.cfg.skip[r.URL.Path]; ok {
				defer request.From(r.Context()).CaptureRoute(r)
				next.ServeHTTP(w, r)
				return
			}
		}
		st, w, r := request.Enter(r.Context(), w, r)
		if !st.Claim(request.Metrics) {
			// Another metrics middleware outside counts this request; the
			// pattern still goes up if the mux is right beneath.
			defer st.CaptureRoute(r)
			next.ServeHTTP(w, r)
			return
		}
		if m.cfg.routeFunc != nil {
			st.SetRouteFunc(m.cfg.routeFunc)
		}
		method := request.MethodIndex(r.Method)
		gauge := m.gauge(method)
		gauge.Inc()
		returned := false
		defer func() {
			// A panic is recovered only to tell an abort from a crash, and
			// raised again from here, where the handler's frames are still
			// on the stack that net/http prints.
			var v any
			if !returned {
				v = recover()
			}
			gauge.Dec()
			o := st.Finish(r, !returned, v)
			s := m.server.get(method, o.Route, foldCode(o.Status), o.ErrorType)
			s.requests.Inc()
			m.observe(r.Context(), s, o.Duration.Seconds(), o.End.UnixNano())
			s.size.Observe(float64(o.Bytes))
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(w, r)
		returned = true
	})
}

func (m *httpMetrics) gauge(method int) prometheus.Gauge {
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
func (m *httpMetrics) observe(ctx context.Context, s *series, d float64, now int64) {
	if m.cfg.exemplars {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			last := &s.exemplarAt[sort.SearchFloat64s(m.cfg.buckets, d)]
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

// Route gives the requests h serves the route label pattern, for routers
// that do not set r.Pattern (chi, gorilla/mux, hand-written ones): wrap
// each route's handler. A ServeMux-style pattern loses its method and host
// ("GET /items/{id}" labels as "/items/{id}"). The other prodready
// middlewares see the route too. For a ServeMux that a middleware of yours
// hides from prodready's, wrap the mux in prodready.Routes instead.
func Route(pattern string, h http.Handler) http.Handler {
	route := request.Route(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := request.From(r.Context()); st != nil {
			st.SetRoute(&route)
		}
		h.ServeHTTP(w, r)
	})
}
