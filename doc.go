// Package prodready is a map of production-readiness building blocks for
// Go HTTP services: the parts every team writes before a service may take
// real traffic in a container. Each package stands alone and imports none
// of the others; a service's main wires them together with plain values.
// This package itself holds the route vocabulary the three HTTP
// middlewares share: Routes for an http.ServeMux, RouteFunc for any other
// router (chi, gorilla/mux), Route for a single handler.
//
// # Which package for which concern
//
//   - [github.com/prodready/prodready/health]: liveness, readiness and
//     startup checks served on /livez, /readyz and /startupz; cached,
//     bounded by timeouts, never "ready" before the first real result; Probe
//     for a Docker HEALTHCHECK in an image with no curl.
//   - [github.com/prodready/prodready/shutdown]: SIGTERM to a clean exit
//     inside one deadline: readiness red, drain delay, servers finish
//     in-flight requests, then hooks (close the database, flush traces, sync
//     logs); stuck steps are named; a second signal exits at once.
//   - [github.com/prodready/prodready/logging]: zap JSON on stdout,
//     correlation IDs taken from or set on X-Correlation-ID, one access line
//     per request, trace IDs on every line.
//   - [github.com/prodready/prodready/metrics]: Prometheus RED middleware
//     with bounded route labels and exemplars, a registry with runtime
//     collectors and build_info, the /metrics handler.
//   - [github.com/prodready/prodready/tracing]: OpenTelemetry set up from
//     the standard OTEL_* variables, server and client spans, W3C
//     propagation, flush on shutdown.
//   - [github.com/prodready/prodready/secrets]: secrets read from mounted
//     files and reloaded when they rotate (Kubernetes ..data swaps
//     included), values that never print, TLS certificates that rotate
//     under a live server.
//   - [github.com/prodready/prodready/server]: the edge: an http.Server
//     and an http.Client with every timeout set (the client follows no
//     redirects), a connection cap below the descriptor limit that closes
//     idle keep-alives first and answers 503 rather than hang, a request
//     deadline that ends the handler's context without buffering, and
//     the admin port's bearer-token guard and profiler.
//   - [github.com/prodready/prodready/grpcx]: the same for gRPC: a server
//     and a client with the access line, the go-grpc-middleware metric
//     names, otelgrpc spans, recovery, deadlines, message and keepalive
//     limits, grpc.health.v1 from a health.Checker, and a GracefulStop that
//     ends open streams so shutdown's ServeGRPC stays in its budget.
//   - [github.com/prodready/prodready/memlimit]: GOMEMLIMIT from the
//     cgroup v1 or v2 memory limit unless GOMEMLIMIT is set, reporting
//     what it did for the caller to log.
//
// # Two rules every package follows
//
// Middlewares and transports (logging, metrics, tracing): a middleware is a
// func(http.Handler) http.Handler returned by the package's
// Middleware(required dependencies..., opts...); a transport is an
// http.RoundTripper returned by Transport(base, required dependencies...,
// opts...). base nil means http.DefaultTransport. A constructor that
// registers something returns an error beside it. So the three middlewares
// go into one []func(http.Handler) http.Handler without adapters, and each
// package has one Option type for both of its constructors.
//
// Loggers: health, shutdown and secrets take Logger(*slog.Logger); without
// it, or with nil, they log to slog.Default(); silence one with
// slog.New(slog.DiscardHandler); logging.Slog(zapLogger) feeds them the
// service's zap logger.
//
// # Wiring them in a main
//
// The order of the HTTP middlewares is tracing outermost (so every log line
// and exemplar has a trace ID), then logging, then metrics, around the mux.
// They share one per-request state, so each sees the route of the matched
// pattern ("/orders/{id}") whatever else sits between them, records the same
// status and error type, and a request is wrapped by one response writer,
// not three. The one rule: name the routes with the one line for your
// router, so the route reaches them whatever of yours (auth, tenancy)
// sits in between: Routes(mux) for an http.ServeMux, and inside chi or
// gorilla/mux, with the router's own Use,
//
//	r.Use(prodready.RouteFunc(func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }))
//	r.Use(prodready.RouteFunc(func(r *http.Request) string { t, _ := mux.CurrentRoute(r).GetPathTemplate(); return t }))
//
// Otherwise every route is "unmatched" and the first response that shows
// it logs a warning through the service's logger. The first of them to
// see a handler's panic answers it (a 500 with a JSON body and the
// correlation ID) and the stack is logged once; a recoverer of your own
// goes inside them. Client transports wrap the
// same way, for the same reason: tracing outermost, then logging, then
// metrics, around base, so that the client span is current when logging
// forwards the correlation ID and when metrics records an exemplar.
//
//	tp, err := tracing.Setup(ctx, tracing.Config{ServiceName: "orders"})
//	log, level, err := logging.New(logging.Config{Service: "orders"})
//	reg := metrics.NewRegistry()
//	red, err := metrics.Middleware(reg)
//
//	checks := health.New(health.Logger(logging.Slog(log)))
//	checks.AddReadiness("postgres", health.PingContext(db), health.Interval(5*time.Second))
//
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /orders/{id}", getOrder)
//	var handler http.Handler = mux
//	for _, mw := range []func(http.Handler) http.Handler{ // innermost first
//		red, logging.Middleware(log), tracing.Middleware(),
//	} {
//		handler = mw(handler)
//	}
//
//	clientMetrics, err := metrics.Transport(nil, reg)
//	client := &http.Client{Transport: tracing.Transport(logging.Transport(clientMetrics))}
//
//	admin := http.NewServeMux()
//	checks.Mount(admin)
//	admin.Handle("GET /metrics", metrics.Handler(reg))
//	admin.Handle("/loglevel", logging.LevelHandler(log, level)) // GET reads, PUT changes (guard it: server.Guard)
//
//	sd := shutdown.New(shutdown.Logger(logging.Slog(log)))
//	sd.OnDrain(checks.Drain)
//	sd.Serve(&http.Server{Addr: ":8080", Handler: handler}, nil)
//	sd.Serve(&http.Server{Addr: ":9090", Handler: admin}, nil)
//	sd.Add("postgres", func(context.Context) error { return db.Close() })
//	sd.Add("traces", tp.Shutdown)
//	sd.Add("logs", func(context.Context) error { return log.Sync() })
//	return sd.Wait()
//
// The examples module (examples/catalog and examples/orders) holds two
// complete services wired this way, with Dockerfiles, a compose file and
// Kubernetes manifests whose probes and grace periods match the code.
package prodready
