// Package logging gives an HTTP service the logs an on-call engineer can
// search: one JSON object per line on stdout, a correlation ID on every
// line of a request and on the next service's lines too, the trace and span
// IDs of OpenTelemetry, and one access line per request.
//
// # The problem
//
// zap's production config, chi's RequestID and a hand-written access log
// leave gaps that show up during an incident: the request ID is whatever a
// client sent (any length, any bytes), it is not echoed to the caller nor
// passed to the services called next, trace IDs are not on the lines, the
// access log cannot see the route behind a middleware that copied the
// request, a panicking handler leaves no access line, and sampling drops
// lines without saying how many.
//
// # Logger
//
// New builds a zap logger for containers: keys time (RFC 3339, UTC,
// nanoseconds), level, msg, caller, service, version; a stack trace on
// error and above; level from Config.Level, else $LOG_LEVEL, else info.
// The returned zap.AtomicLevel changes the level at run time; mount
// LevelHandler(logger, level) on an admin port (GET shows the level, PUT
// {"level":"debug"} changes it, even from a plain curl -d; fatal and the
// other levels that would silence errors are refused; every change is
// logged with who asked). Sampling
// is off unless Config.Sampling is set, and then Sampling.Dropped counts
// what it left out. Config.Buffer (off by default) writes many lines per
// write(2), at the price of the last ones held when the process is killed.
// Config.Fields picks the key names: OpenTelemetry()
// (the default), GoogleCloud(project) for Cloud Logging, ECS() for
// Elastic.
//
// # Middleware
//
// Middleware takes the correlation ID from X-Correlation-ID or
// X-Request-ID (see Headers) when it is 1–128 characters of
// [A-Za-z0-9._:-], and otherwise makes a UUIDv7, so a client can neither
// inject log syntax nor bloat every line. The ID is echoed in the response
// and available as CorrelationID(ctx). After the handler returns (or
// panics), one access line records method, route (the ServeMux pattern's
// path template, /orders/{id}), path, status, bytes, duration in seconds,
// remote, user_agent, correlation_id, error_type when the request failed
// (panic, aborted, timeout, write_timeout, client_gone, or the 5xx code:
// the same values and status prodready's metrics and span record), and
// trace_id/span_id when a span is in the context. 5xx and failed lines
// are at error level, a client gone or an abort at warn, everything else
// at info, so an alert on error lines fires on server failures and not on
// scanners' 404s. SkipPaths leaves probes and /metrics out; Path(false)
// leaves the raw path out of every line, for paths that carry personal
// data. Each value a client controls is cut at 1 KiB of JSON and the stack
// at 8 KiB, ending in "...[truncated]", so no request makes a line longer
// than 16 KiB, which Docker's json-file driver would split. With a logger
// from New, the access line skips zap's per-field machinery: zap encodes
// its level, name, message and the logger's fields once, and the request's
// values are appended with zap's escaping, the same bytes zap would write
// (held by a fuzz test); any other logger writes it through zap.
//
// Put it inside the tracing middleware so that the access line has the
// server span's IDs, and outside the router:
//
//	handler := tracing.Middleware()(logging.Middleware(logger, logging.SkipPaths("/readyz"))(mux))
//
// A middleware of yours that calls r.WithContext between this one (the
// innermost of prodready's) and the router hides the route: wrap a
// ServeMux in prodready.Routes, or add prodready.RouteFunc inside chi or
// gorilla/mux (the root package shows the one line for each).
//
// A middleware that buffers the response (http.TimeoutHandler, a
// compressor that buffers) belongs outside all of prodready's: they share
// one response-capturing writer, so a layer of ours inside the buffer
// would read the status and size before the buffer is written out.
//
// # Request logger
//
// FromContext returns the request's logger, with correlation_id, trace_id
// and span_id. It is built on first use and adds its fields as each line is
// written, so a handler that never logs pays nothing for it. Slog returns
// a *slog.Logger over the same core that adds the same IDs from the
// context, for libraries that speak log/slog.
//
// # Across services
//
// Transport forwards the correlation ID on outgoing requests made with the
// request's context, so the next service, running this middleware, logs
// the same ID. A nil base means http.DefaultTransport; among prodready's
// transports it goes inside tracing's, as the middleware does:
//
//	client := &http.Client{Transport: tracing.Transport(logging.Transport(nil))}
//	req, _ := http.NewRequestWithContext(r.Context(), "GET", catalogURL, nil)
//	resp, err := client.Do(req)
package logging
