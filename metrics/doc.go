// Package metrics gives a net/http service the Prometheus metrics it needs
// before it takes real traffic: rate, errors and duration of every request
// by route, labels that stay bounded whatever clients send, exemplars that
// link a slow request to its trace, and a registry with the runtime,
// process and build series that every dashboard expects.
//
// The usual instrumentation breaks in production in a few known ways:
// promhttp cannot label by route at all, other middlewares label by the raw
// path (one series per /users/8123 a scanner tries), unknown methods become
// label values, a panicking handler goes uncounted, and exemplars are
// dropped because OpenMetrics was never negotiated. This package fixes each
// of those.
//
// # Series
//
//	http_requests_total{method,route,code,error_type}             counter
//	http_request_duration_seconds{method,route,code,error_type}   histogram: OpenTelemetry's HTTP buckets and a native histogram
//	http_response_size_bytes{method,route,code,error_type}        histogram
//	http_requests_in_flight{method}                    gauge
//	http_client_requests_total{method,host,code}            counter (Transport)
//	http_client_request_duration_seconds{method,host,code}  histogram (Transport)
//
// # Bounded labels
//
// route is the path template of the ServeMux pattern that matched,
// /products/{id}, wherever the middleware sits: prodready's middlewares
// share the matched route through the request context even when a
// middleware in between calls r.WithContext. Requests that matched nothing
// are "unmatched". One case needs care: a middleware of yours that calls
// r.WithContext between the innermost of prodready's middlewares and the
// mux keeps the pattern from all of them; wrap the mux in prodready.Routes
// (the first 2xx or 3xx response without a route logs a warning saying
// so, once per process, through the service's logger). Other routers (chi,
// gorilla/mux) name the route with prodready.RouteFunc inside the router,
// a single handler with prodready.Route. Past MaxRoutes distinct routes (default 100) the
// rest count as "other", so ten thousand random paths add at most that
// many series. Methods outside the standard nine are "OTHER"; codes
// outside 100-599 are "other".
//
// error_type is empty for a request that succeeded, the status code for a
// 5xx, and otherwise one of five values for a response that did not reach
// the client as its code says (the code stays the one sent): panic,
// aborted (a panic with http.ErrAbortHandler), timeout (http.TimeoutHandler
// answered 503 in its place), write_timeout (the handler returned after
// the server's WriteTimeout), client_gone (the client went away, or a
// write failed). So error_type!="" selects every failure. The access log
// and the span record the same route, code and error type.
//
// A middleware that buffers the response (http.TimeoutHandler, a
// compressor that buffers) belongs outside all of prodready's: they share
// one response-capturing writer, so a layer of ours inside the buffer
// would read the status and size before the buffer is written out.
//
// # Exemplars
//
// When the request context holds a sampled OpenTelemetry span, the duration
// observation carries trace_id and span_id. Handler serves OpenMetrics to
// scrapers that ask for it, which is what makes the exemplars visible;
// Prometheus stores them with --enable-feature=exemplar-storage. The
// tracing middleware must wrap this one, so that its span is in the context
// this one sees. A bucket shows only its newest exemplar, so each bucket of
// each series takes at most one a second: a sampled request costs no more
// than an unsampled one, and the rare slow request in an upper bucket still
// gets its own.
//
// # Panics and hijacked connections
//
// A handler that panics is counted with the status it had sent, or 500,
// and error_type panic: a panic before anything was written is answered
// with that 500 by the first of prodready's middlewares to see it (see the
// root package), one after the response began aborts the connection. A connection taken over with Hijack is counted with the status
// written through the ResponseWriter, or 101 if none: the 101 of a
// WebSocket upgrade travels over the raw connection, where no middleware
// can see it. The access log and the span report the same status. A second
// metrics middleware on a request that one already counts (the same one
// applied twice) only passes it on.
//
// # Usage
//
//	reg := metrics.NewRegistry()
//	mw, err := metrics.Middleware(reg, metrics.SkipPaths("/livez", "/readyz"))
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /products/{id}", getProduct)
//	go http.ListenAndServe(":9090", metrics.Handler(reg))
//	return http.ListenAndServe(":8080", mw(mux))
//
// Outgoing calls:
//
//	rt, err := metrics.Transport(nil, reg)
//	if err != nil {
//		return err
//	}
//	client := &http.Client{Transport: rt}
//
// Middleware and Transport register their collectors on reg; called again
// on the same registerer (two servers, two clients) they reuse the
// collectors registered there, so the series are shared.
//
// # Cost
//
// The label values of each (method, route, code) are resolved once and the
// series cached, so a request costs a map lookup and the observations, with
// no allocation beyond the request state that prodready's middlewares share
// (and create once between them).
package metrics
