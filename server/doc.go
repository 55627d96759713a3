// Package server is the edge of a service: the HTTP servers and clients
// set up so that no peer can pin them, a connection cap that keeps the
// probes answering under a flood, the one admission path that sheds what
// the service cannot finish in time, a request deadline that frees the
// handler, and the guarded admin port.
//
// net/http's zero values are made for a program on a trusted network: an
// http.Server with no timeouts keeps a connection as long as the client
// likes, http.DefaultClient waits for ever on a peer that accepts and says
// nothing, WriteTimeout closes the connection under a slow handler but
// leaves the handler (and its database query) running, and nothing stops
// a client from holding as many idle keep-alive connections as the process
// has descriptors, at which point the admin port cannot accept the
// kubelet's probe and the pod is restarted for being busy. Each part of
// this package closes one of those. Like every prodready package it
// imports no other: it hands back plain net/http values.
//
// # Servers
//
// [New] returns an *http.Server with ReadHeaderTimeout (5s), ReadTimeout
// (15s), WriteTimeout (45s), IdleTimeout (75s) and MaxHeaderBytes (16 KiB)
// set; each default says in the source which fault it bounds. Change any
// field before serving.
//
// # Settings and the two ports
//
// [FromEnv] reads a service's edge from its environment into a [Config]
// (HTTP_ADDR, ADMIN_ADDR, HTTP_READ_HEADER_TIMEOUT, HTTP_REQUEST_TIMEOUT,
// SHUTDOWN_TIMEOUT, SHUTDOWN_DRAIN_DELAY, ADMIN_TOKEN_FILE, PPROF), naming
// every malformed variable in one error. [Config.Traffic] builds the
// traffic port with the middlewares in the order that works (the body
// limit outermost, yours, the request deadline innermost) and timeouts
// that agree with the deadline; [Config.AdminServer] the admin port;
// [Admin] its handler; [Config.AdminURL] what a healthcheck subcommand
// probes; [Listen] listens on every port or none.
//
// # Clients
//
// [NewClient](timeout) returns an *http.Client for service-to-service calls:
// every phase bounded (dial, TLS handshake, response headers, the whole
// call), idle pools bounded, and redirects returned to the caller instead
// of followed.
//
// # The connection cap
//
// [Limit](srv, ln, max) wraps the traffic port's listener: at most max
// connections (by default the descriptor limit less headroom, see
// [DefaultMaxConns]), and at the cap the connection idle longest is closed
// to make room; when none is idle a new connection gets a prompt 503 (or
// is closed, under TLS), never a hang. The cap is also bounded by memory:
// the connections may hold a quarter of the Go runtime's memory limit,
// each counted at what it can hold while its headers are read (measured;
// see [Limit]). The admin port is served on a listener of its own, capped
// at [MaxAdminConns] out of the descriptors the traffic cap leaves, so no
// port can take the process to EMFILE.
// [Listener.Stats] gives the counts for metrics.
//
// # Admission: shedding load
//
// [NewAdmission](reg, opts...) returns the service's one admission path:
// its Middleware refuses, before any handler work, with 503 and
// Retry-After, what the service cannot finish within a latency goal
// (LatencyTarget, 50 ms), following both an in-flight limit learnt from
// latency (the I/O-bound service) and the Go scheduler's latency (the
// CPU-bound one, whose queue no in-flight count sees), and what would
// take the heap past a share of GOMEMLIMIT; its Acquire is the same
// decision for gRPC and other transports. Put the middleware inside the
// telemetry and outside Deadline: the access line, the metric and the
// span then say error type "shed". The limit, what is in flight and the
// refusals by reason are on /metrics; a burst of refusals is one log
// line every 5 seconds. Probes are never refused. Measured on one core at
// five times the capacity of a 2 ms CPU-bound route, with a 1 s client
// deadline: without it the stack delivered about half its capacity in
// time and /livez took over a second; with it, 0.81–0.95 of capacity,
// refusals within 23 ms (BENCHMARKS.md, "Overload").
//
// # The request deadline
//
// [Deadline](d) is a middleware that ends the request's context d after the
// handler starts (cause [ErrDeadline]), without buffering the response, and
// answers 504 for a handler that returns having written nothing. Keep d
// below the server's WriteTimeout, and put it inside the telemetry
// middlewares, next to the mux, so that they record its 504.
//
// # The admin port
//
// The admin port serves what kubelet and Prometheus need, open to whoever
// can reach the port (they cannot carry a token), and guards what changes
// the process or tells more: [Guard](token) admits only requests with
// "Authorization: Bearer <token>", and refuses everything while no valid
// token is configured. [Profiler] is the Go profiler as one handler, to
// mount behind it. [ValidToken] is the token's rule, for the token file's
// validator. Do not publish the admin port outside the cluster.
//
// # Usage
//
//	srv := server.New(":8080", nil)
//	deadline := server.Deadline(srv.WriteTimeout - 5*time.Second)
//	admit, err := server.NewAdmission(reg, server.AdmitLogger(slogger))
//	if err != nil {
//		return err
//	}
//	srv.Handler = http.MaxBytesHandler(tracing.Middleware()(logging.Middleware(log)(red(admit.Middleware(deadline(mux))))), 1<<20)
//	ln, err := net.Listen("tcp", srv.Addr)
//	if err != nil {
//		return err
//	}
//	sd.Serve(srv, server.Limit(srv, ln, 0))
//
//	guard := server.Guard(func() string { return token.Value().Reveal() })
//	admin := http.NewServeMux()
//	checks.Mount(admin)                                // open: /livez /readyz /startupz
//	admin.Handle("GET /metrics", metrics.Handler(reg)) // open
//	levels := logging.LevelHandler(log, level)         // not the raw zap.AtomicLevel: see package logging
//	admin.Handle("GET /loglevel", levels)              // open: reading it
//	admin.Handle("PUT /loglevel", guard(levels))       // guarded: changing it
//	admin.Handle("GET /debug/pprof/", guard(server.Profiler(server.StopProfiles(sd.Context()))))
//	adminSrv := server.New(":9090", http.MaxBytesHandler(admin, 4<<10))
//	aln, err := net.Listen("tcp", adminSrv.Addr)
//	if err != nil {
//		return err
//	}
//	sd.Serve(adminSrv, server.Limit(adminSrv, aln, server.MaxAdminConns))
//
//	catalog := server.NewClient(2 * time.Second)
//	catalog.Transport = tracing.Transport(logging.Transport(catalog.Transport))
package server
