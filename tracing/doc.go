// Package tracing sets up OpenTelemetry tracing in one call, configured by
// the standard OTEL_* variables, and instruments net/http servers and
// clients.
//
// Every Go service copies the same fifty lines from the OTel docs: build a
// resource, pick an exporter, set the sampler and the propagator, and
// remember to flush on exit. The copies disagree on the environment
// variables they honour, crash on a resource schema-URL conflict, and lose
// the last spans because Shutdown gets a context that is already spent.
//
// # Setup
//
// Setup reads OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_EXPORTER (otlp, console, none), OTEL_EXPORTER_OTLP_ENDPOINT and
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL
// (http/protobuf, the default, or grpc), OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, and OTEL_PROPAGATORS
// (tracecontext,baggage by default). Config fills what the environment
// leaves unset. An invalid value is an error that names the variable; it
// shows the value too, except a header's (OTEL_EXPORTER_OTLP_HEADERS holds
// API keys) and an endpoint URL with user-info or a query, which it
// refuses: the exporters would silently not send them. The otlp exporter
// with no endpoint sends to http://localhost:4318 (grpc: :4317), as the
// specification says.
//
// With nothing configured nothing is exported and nothing is logged: a
// newcomer's first run is quiet. Spans still carry trace IDs, so the IDs
// reach log lines and downstream services, but only spans whose caller
// sampled them are recorded (recording what goes nowhere is pure cost),
// so a sampled trace crossing this service stays whole. Setting an
// endpoint is enough to export over OTLP/HTTP, sampling everything unless
// OTEL_TRACES_SAMPLER or Config.Sampler says otherwise.
//
// # What goes wrong later
//
// Config.Logger (slog.Default() unless set) gets each kind of trouble
// under a message of its own, at most once a minute with a count of the
// repeats: "trace export failed" (warn) when an exporter fails in the
// background, "invalid baggage header from a client, ignored" (info) when
// a request's baggage header is malformed or over the W3C limits (the
// request is served, with the members that parsed), and "OpenTelemetry
// error" (warn) for anything else OTel reports to its global error
// handler, which Setup installs unless Config.NoGlobal.
//
// # Shutdown
//
// Provider.Shutdown flushes with a deadline of its own: at least
// Config.ShutdownTimeout (5s by default) even when the caller's context is nearly
// spent or already cancelled, longer if the caller allows it. Call it after
// the HTTP servers have stopped, so the last requests' spans are in.
//
// # Middleware and Transport
//
// Middleware makes a server span per request named "METHOD route" (the
// route of the matched pattern, shared with prodready's logging and metrics
// middlewares, so it survives user middleware that copies the request),
// with the attributes of the HTTP semantic conventions, error.type and
// status Error for 5xx and for a response that failed whatever its status
// (panic, aborted, timeout, write_timeout, client_gone: the values
// prodready's metrics and access log record for the same request), and an
// exception event for a panic, which is answered with a JSON 500 (see the
// root package), sampled or not. Its instrumentation
// scope carries this module's version. A second tracing middleware on a
// request that one already traces only passes it on. The
// incoming traceparent is honoured unless PublicEndpoint(true) makes each
// request a new root linked to the caller. SkipPaths leaves probes out.
// Put it outermost, so the other middlewares see its span.
//
// Transport makes client spans and sends traceparent, tracestate and
// baggage to the next service. Both take the package's Option values
// (TracerProvider, Propagator, PublicEndpoint, SkipPaths); Setup takes only
// its Config, whose zero fields mean the defaults.
//
//	p, err := tracing.Setup(ctx, tracing.Config{ServiceName: "orders", ServiceVersion: version})
//	if err != nil {
//		return err
//	}
//	defer p.Shutdown(context.Background()) // its own deadline; after the servers stop
//
//	handler := tracing.Middleware(tracing.SkipPaths("/livez", "/readyz"))(mux)
//	client := &http.Client{Transport: tracing.Transport(nil)}
//
// TraceID returns the current trace ID for error pages and support tickets.
package tracing
