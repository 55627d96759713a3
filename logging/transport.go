package logging

import "net/http"

// Transport forwards the correlation ID of the request in the outgoing
// request's context, in the first of the Middleware's Headers (default
// X-Correlation-ID), so that the next service logs the same ID. A request
// that already has the header, or a context with no ID, goes out as it is.
// A nil base means http.DefaultTransport.
//
// Of the options Transport heeds Headers: its first name is the header the
// ID goes out in, whatever the Middleware's. The others configure only
// Middleware.
func Transport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &transport{base: base}
	if len(opts) > 0 {
		m := middleware{skip: make(map[string]struct{})}
		for _, o := range opts {
			o.apply(&m)
		}
		if len(m.headers) > 0 {
			t.header = m.headers[0]
		}
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
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
