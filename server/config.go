package server

import (
	"cmp"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prodready/prodready/internal/env"
)

// Config is what a service's edge reads from its environment: its two
// ports, their time budgets, the shutdown's budget the servers drain in,
// and the admin port's guard. FromEnv reads it; the zero value of a field
// means its default (the shutdown package's, for the two shutdown
// fields), so a Config written in code need name only what it changes.
type Config struct {
	// Addr (HTTP_ADDR) is the traffic port.
	Addr string
	// AdminAddr (ADMIN_ADDR, ":9090") is the admin port: probes,
	// /metrics, /loglevel and the guarded /debug/ endpoints (Admin).
	AdminAddr string
	// ReadHeaderTimeout (HTTP_READ_HEADER_TIMEOUT, 5s) bounds how long a
	// client may take to send its request headers, on both ports.
	ReadHeaderTimeout time.Duration
	// RequestTimeout (HTTP_REQUEST_TIMEOUT, 40s) is the request deadline
	// (Deadline) of the traffic port; its write timeout is kept
	// WriteMargin above it, so a handler has the time to answer.
	RequestTimeout time.Duration
	// ShutdownTimeout (SHUTDOWN_TIMEOUT, 25s) is the whole budget from
	// SIGTERM to exit, for the shutdown package's Timeout; the servers'
	// drain is part of it.
	ShutdownTimeout time.Duration
	// DrainDelay (SHUTDOWN_DRAIN_DELAY, 5s) is how long the service serves
	// on with its readiness red after SIGTERM, while load balancers take it
	// out; it counts inside ShutdownTimeout (the shutdown package's
	// DrainDelay).
	DrainDelay time.Duration
	// AdminTokenFile (ADMIN_TOKEN_FILE) is the file holding the token that
	// opens the admin port's guarded endpoints (Guard, ValidToken): watch
	// it with the secrets package, so a rotated token needs no restart.
	// Empty: the guarded endpoints are closed.
	AdminTokenFile string
	// Pprof (PPROF) serves /debug/pprof/ on the admin port, behind the
	// token (Admin).
	Pprof bool
	// ErrorLog receives net/http's own errors on both ports (a TLS
	// handshake refused, a handler's panic it recovered); nil: the log
	// package's standard logger. Not read from the environment.
	ErrorLog *log.Logger
}

// WriteMargin is how far the traffic port's write timeout stays above
// the request deadline.
const WriteMargin = 5 * time.Second

// The defaults of the fields the servers read, as FromEnv has them
// (TestFromEnvDefaults holds the two together).
const (
	defaultAdminAddr         = ":9090"
	defaultReadHeaderTimeout = 5 * time.Second
	defaultRequestTimeout    = 40 * time.Second
)

// Body limits: any body on the traffic port, whatever a handler forgets
// (a handler that decodes a body sets its own, smaller limit), and on the
// admin port, where a /loglevel change is a few bytes of JSON.
const (
	maxBody      = 1 << 20
	maxAdminBody = 4 << 10
)

// FromEnv reads the Config from the environment; addr is the service's
// default HTTP_ADDR. Unset or empty variables take the defaults, and a
// malformed one (an address that is not host:port, a duration that does
// not parse or is negative, a boolean that is not one) is an error that names every bad variable, not just
// the first.
func FromEnv(addr string) (Config, error) {
	var e env.Reader
	c := Config{
		Addr:              e.String("HTTP_ADDR", addr),
		AdminAddr:         e.String("ADMIN_ADDR", ":9090"),
		ReadHeaderTimeout: e.Duration("HTTP_READ_HEADER_TIMEOUT", 5*time.Second),
		RequestTimeout:    e.Duration("HTTP_REQUEST_TIMEOUT", 40*time.Second),
		ShutdownTimeout:   e.Duration("SHUTDOWN_TIMEOUT", 25*time.Second),
		DrainDelay:        e.Duration("SHUTDOWN_DRAIN_DELAY", 5*time.Second),
		AdminTokenFile:    e.String("ADMIN_TOKEN_FILE", ""),
		Pprof:             e.Bool("PPROF", false),
	}
	err := e.Err()
	for _, a := range []struct{ key, addr string }{{"HTTP_ADDR", c.Addr}, {"ADMIN_ADDR", c.AdminAddr}} {
		if _, _, aerr := net.SplitHostPort(a.addr); aerr != nil {
			err = errors.Join(err, fmt.Errorf("%s=%q: want host:port, such as :8080: %w", a.key, a.addr, aerr))
		}
	}
	return c, err
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	c.AdminAddr = cmp.Or(c.AdminAddr, defaultAdminAddr)
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, defaultReadHeaderTimeout)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, defaultRequestTimeout)
	return c
}

// Traffic returns the traffic port's server (New, on Addr), serving h
// behind the middlewares in the order that works:
//
//   - outermost, the body limit (1 MiB): it hands a copy of the request
//     on, and the telemetry must hold the request the router fills the
//     route in;
//   - then mws, outermost first: tracing, logging, metrics;
//   - innermost, next to the routes, the request deadline (Deadline,
//     RequestTimeout), so that the telemetry records its 504.
//
// The budgets agree: the read timeout covers the header timeout, and the
// write timeout stays WriteMargin above the deadline, which ends a
// request first and leaves its handler the time to answer.
func (c Config) Traffic(h http.Handler, mws ...func(http.Handler) http.Handler) *http.Server {
	c = c.withDefaults()
	h = Deadline(c.RequestTimeout)(h)
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	srv := c.server(c.Addr, limitBody(h, maxBody))
	srv.WriteTimeout = max(srv.WriteTimeout, c.RequestTimeout+WriteMargin)
	return srv
}

// AdminServer returns the admin port's server (New, on AdminAddr) serving
// h (Admin's handler), with a 4 KiB body limit and no request deadline:
// a profile runs for as long as it was asked to.
func (c Config) AdminServer(h http.Handler) *http.Server {
	c = c.withDefaults()
	return c.server(c.AdminAddr, limitBody(h, maxAdminBody))
}

// limitBody is http.MaxBytesHandler(h, n) for requests with a body. A
// request without one (net/http gives a GET or a Content-Length of 0
// http.NoBody) has nothing to limit and goes to h as it is: neither the
// request copy nor the reader MaxBytesHandler makes, two of a GET's
// allocations on the traffic port.
func limitBody(h http.Handler, n int64) http.Handler {
	limited := http.MaxBytesHandler(h, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

func (c Config) server(addr string, h http.Handler) *http.Server {
	srv := New(addr, h)
	srv.ErrorLog = c.ErrorLog
	srv.ReadHeaderTimeout = c.ReadHeaderTimeout
	srv.ReadTimeout = max(srv.ReadTimeout, c.ReadHeaderTimeout)
	return srv
}

// Listen listens on every address, or on none: a port in use fails the
// start with its error before anything serves, and leaves nothing
// half-started to shut down. The listeners come back in the order of
// addrs; cap them with Limit (the admin port at MaxAdminConns) as their
// servers are served.
func Listen(addrs ...string) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, len(addrs))
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, open := range lns {
				_ = open.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// BudgetProblem names the setting to change, in one line, when the
// budgets cannot agree, or returns "": a drain delay that is not below
// the shutdown's timeout leaves the servers and the hooks no time. A
// request longer than what the shutdown leaves the servers is no problem:
// the shutdown package ends it with a 503 in time for the hooks. Log it
// as a warning at start.
func (c Config) BudgetProblem() string {
	if c.ShutdownTimeout > 0 && c.DrainDelay >= c.ShutdownTimeout {
		return fmt.Sprintf("SHUTDOWN_DRAIN_DELAY (%v) is not below SHUTDOWN_TIMEOUT (%v): the servers and hooks get no time at a shutdown; raise SHUTDOWN_TIMEOUT", c.DrainDelay, c.ShutdownTimeout)
	}
	return ""
}

// AdminURL returns the http URL of path on the admin port as seen from
// this host: an address without a host, or with an unspecified one
// (":9090", "0.0.0.0:9090", "[::]:9090"), is reached on the loopback. It
// is what a service's "healthcheck" subcommand probes (health.Probe), for
// an image's HEALTHCHECK where there is no curl. FromEnv refuses an
// ADMIN_ADDR that does not parse; a Config written in code with one gets
// it back as written, for the probe to fail on.
func (c Config) AdminURL(path string) string {
	c = c.withDefaults()
	u, err := localURL(c.AdminAddr, path)
	if err != nil {
		return "http://" + c.AdminAddr + path
	}
	return u
}

// localURL is AdminURL for any address.
func localURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("server: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
