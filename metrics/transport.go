package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prodready/prodready/internal/request"
)

// Transport counts and times the requests sent through base
// (http.DefaultTransport when nil): http_client_requests_total and
// http_client_request_duration_seconds by method, host and code, registered
// on reg. The duration ends when the response headers arrive; the code is
// "error" when no response came. Hosts past MaxHosts count as "other".
//
// Like Middleware, it reuses the collectors already registered on reg by
// an earlier call, and returns an error, registering nothing, when an
// option is invalid or a collector clashes.
func Transport(base http.RoundTripper, reg prometheus.Registerer, opts ...TransportOption) (http.RoundTripper, error) {
	cfg := defaults()
	for _, o := range opts {
		o.applyClient(&cfg)
	}
	m, err := newClientMetrics(reg, cfg)
	if err != nil {
		return nil, err
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{m: m, base: base}, nil
}

// clientMetrics holds the client series of one registry.
type clientMetrics struct {
	cfg      config
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	table    *table
}

func newClientMetrics(reg prometheus.Registerer, cfg config) (*clientMetrics, error) {
	if reg == nil {
		return nil, ErrNilRegisterer
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	labels := []string{"method", "host", "code"}
	var requests, duration prometheus.Collector
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: cfg.namespace, Name: "http_client_requests_total", ConstLabels: cfg.constLabels,
		Help: `Number of outgoing HTTP requests, by method, host and status code ("error" when no response came).`,
	}, labels)
	duration = prometheus.NewHistogramVec(cfg.histogram("http_client_request_duration_seconds",
		"Time from sending an outgoing HTTP request to receiving the response headers, in seconds."), labels)
	if err := register(reg, []*prometheus.Collector{&requests, &duration}); err != nil {
		return nil, err
	}
	m := &clientMetrics{cfg: cfg, requests: requests.(*prometheus.CounterVec), duration: duration.(*prometheus.HistogramVec)}
	m.table = newTable(cfg.maxHosts, func(method, host, code, _ string) *series {
		return &series{
			requests:   m.requests.WithLabelValues(method, host, code),
			duration:   m.duration.WithLabelValues(method, host, code).(observer),
			exemplarAt: make([]atomic.Int64, len(cfg.buckets)+1),
		}
	})
	return m, nil
}

type transport struct {
	m    *clientMetrics
	base http.RoundTripper
}

var _ http.RoundTripper = (*transport)(nil)

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	elapsed := time.Since(start)
	code := codeError
	if err == nil {
		code = foldCode(resp.StatusCode)
	}
	host := req.Host
	if req.URL != nil && req.URL.Host != "" {
		host = req.URL.Host
	}
	s := t.m.table.get(request.MethodIndex(req.Method), host, code, "")
	s.requests.Inc()
	observe(t.m.cfg.exemplars, t.m.cfg.buckets, req.Context(), s, elapsed.Seconds(), start.UnixNano()+int64(elapsed))
	return resp, err
}

// CloseIdleConnections passes the call on, so that
// http.Client.CloseIdleConnections still reaches the base transport.
func (t *transport) CloseIdleConnections() { request.CloseIdle(t.base) }
