package logging

import (
	"net/http"
	"net/textproto"

	"github.com/prodready/prodready/internal/request"
)

// A TransportOption configures Transport.
type TransportOption interface{ applyTransport(*transport) }

type transportOptionFunc func(*transport)

func (f transportOptionFunc) applyTransport(t *transport) { f(t) }

// ForwardAs names the header Transport sends the correlation ID in; by
// default it is the first of the Middleware's Headers.
func ForwardAs(header string) TransportOption {
	return transportOptionFunc(func(t *transport) {
		if header != "" {
			t.header = textproto.CanonicalMIMEHeaderKey(header)
		}
	})
}

// Transport forwards the correlation ID of the request in the outgoing
// request's context, in the first of the Middleware's Headers (default
// X-Correlation-ID) or the header ForwardAs names, so that the next service
// logs the same ID. A request that already has the header, or a context
// with no ID, goes out as it is. A nil base means http.DefaultTransport.
func Transport(base http.RoundTripper, opts ...TransportOption) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &transport{base: base}
	for _, o := range opts {
		o.applyTransport(t)
	}
	return t
}

type transport struct {
	base   http.RoundTripper
	header string // canonical; "" means the Middleware's first header
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rl := reqLogOf(req.Context())
	if rl == nil {
		return t.base.RoundTrip(req)
	}
	name := t.header
	if name == "" {
		name = rl.m.headers[0]
	}
	if len(req.Header[name]) > 0 {
		return t.base.RoundTrip(req)
	}
	// A RoundTripper must not change the caller's request: copy it and its
	// header map before adding to it.
	out := new(http.Request)
	*out = *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header, 1)
	}
	out.Header[name] = []string{rl.hdr[0]}
	return t.base.RoundTrip(out)
}

// CloseIdleConnections passes http.Client.CloseIdleConnections through.
func (t *transport) CloseIdleConnections() { request.CloseIdle(t.base) }
