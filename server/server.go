package server

import (
	"net/http"
	"time"
)

// The defaults of New, in one place. Each says which fault it bounds.
const (
	// readHeaderTimeout stops slowloris: a client that sends its headers a
	// byte at a time holds a connection (and a descriptor) this long at
	// most. A few KiB of headers cross any real network in well under it.
	readHeaderTimeout = 5 * time.Second
	// readTimeout bounds headers and body together: a slow upload is cut
	// here. Services that take large bodies raise it on their server.
	readTimeout = 15 * time.Second
	// writeTimeout bounds how long the server waits, from the end of the
	// request headers, for the response to be written. It does not stop
	// the handler (its context is not cancelled): Deadline does, and its
	// d must be shorter than this, so that the handler's error answer can
	// still be written.
	writeTimeout = 45 * time.Second
	// idleTimeout is how long a keep-alive connection waits for its next
	// request. Longer than the 60 s idle timeout of the usual load
	// balancers (AWS ALB and others), so that the balancer closes an idle
	// connection first: a server that closes first races the balancer's
	// next request on it, which the balancer turns into a 502.
	idleTimeout = 75 * time.Second
	// maxHeaderBytes caps request headers far below net/http's 1 MiB
	// default, at twice what nginx and Apache accept per header line by
	// default (8 KiB): no service-to-service or browser request needs
	// more, and every connection may hold that much while its headers are
	// read: measured, a connection with unfinished headers holds 29 KiB at
	// 16 KiB, 86 KiB at the old default of 64 KiB (TestConnCost), which is
	// what Limit's memory budget counts.
	maxHeaderBytes = 16 << 10
)

// New returns an http.Server for addr serving h, with every timeout set:
//
//   - ReadHeaderTimeout 5s: slowloris gets a connection for 5 s at most;
//   - ReadTimeout 15s: headers and body together;
//   - WriteTimeout 45s from the end of the headers: the response must be
//     written by then, or the connection is closed (the handler is not
//     stopped; see Deadline);
//   - IdleTimeout 75s: longer than the load balancers' 60 s, so they
//     close idle connections first;
//   - MaxHeaderBytes 16 KiB instead of 1 MiB: a connection with
//     unfinished headers holds 29 KiB at most (86 KiB at 64 KiB).
//
// It is a plain *http.Server: change any field before serving (a service
// with 30 s requests raises WriteTimeout, one that takes uploads
// ReadTimeout), set ErrorLog to route net/http's own errors (TLS
// handshakes, panics, accept errors) to the service's logger, and serve it
// with shutdown.Manager.Serve or srv.Serve. Request bodies are not capped
// here: wrap h in http.MaxBytesHandler.
func New(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}
