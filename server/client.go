package server

import (
	"net"
	"net/http"
	"time"
)

// The defaults of NewClient: each phase of a call has its own bound, so a
// peer that accepts and then says nothing costs a request seconds, not a
// goroutine for ever.
const (
	clientTimeout       = 10 * time.Second
	dialTimeout         = 2 * time.Second
	tlsHandshakeTimeout = 3 * time.Second
	keepAlive           = 30 * time.Second
	// idleConnTimeout is shorter than New's IdleTimeout (75s), so that a
	// client of a prodready server drops an idle connection before the
	// server does and never sends on one the server is closing.
	idleConnTimeout     = 60 * time.Second
	maxIdleConns        = 64
	maxIdleConnsPerHost = 32
)

// NewClient returns an http.Client for calls from one service to another.
// Unlike http.DefaultClient, which waits for ever:
//
//   - the whole call, reading the body included, ends after timeout (10s
//     when timeout is zero or less), and so does the wait for the response
//     headers; dialing ends after 2s, the TLS handshake after 3s;
//   - redirects are not followed: a 3xx comes back to the caller as the
//     response. Between services a redirect is a misrouted call (a path
//     that needs a slash, an auth proxy's login page), and following it
//     turns a client error into a confusing one further on. Set
//     CheckRedirect to nil to follow them as net/http does;
//   - idle connections are kept, at most 32 per host and 64 in all, for
//     60s (shorter than New's IdleTimeout, so the client never reuses a
//     connection the server is closing); HTTP_PROXY and HTTPS_PROXY are
//     honoured and HTTP/2 is used where the server offers it.
//
// Its Transport is an *http.Transport; wrap it to add tracing, correlation
// IDs and metrics, outermost tracing:
//
//	c := server.NewClient(2 * time.Second)
//	counted, err := metrics.Transport(c.Transport, reg)
//	c.Transport = tracing.Transport(logging.Transport(counted))
func NewClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = clientTimeout
	}
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: noRedirects,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: min(dialTimeout, timeout), KeepAlive: keepAlive}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   min(tlsHandshakeTimeout, timeout),
			ResponseHeaderTimeout: timeout,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       idleConnTimeout,
			MaxIdleConns:          maxIdleConns,
			MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		},
	}
}

// noRedirects hands the redirect response itself to the caller.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
