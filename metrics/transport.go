package metrics

import (
	"net/http"
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
func Transport(base http.RoundTripper, reg prometheus.Registerer, opts ...Option) (http.RoundTripper, error) {
	m, err := build(reg, clientSide, opts)
	if err != nil {
		return nil, err
	}
	return m.transport(base), nil
}

func (m *httpMetrics) transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{m: m, base: base}
}

type transport struct {
	m    *httpMetrics
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
	s := t.m.client.get(request.MethodIndex(req.Method), host, code, "")
	s.requests.Inc()
	t.m.observe(req.Context(), s, elapsed.Seconds(), start.UnixNano()+int64(elapsed))
	return resp, err
}

// CloseIdleConnections passes the call on, so that
// http.Client.CloseIdleConnections still reaches the base transport.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
