package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
)

// Transport is NewTransport with no options: client spans from the global
// provider, trace context injected with the global propagator.
func Transport(base http.RoundTripper) http.RoundTripper { return NewTransport(base) }

// NewTransport wraps base (http.DefaultTransport when nil) so that each
// request gets a client span, named after its method as the semantic
// conventions ask, ending when the response body is closed or read to the
// end, and carries the traceparent, tracestate and baggage headers of the
// request's context.
//
// Client spans come from otelhttp's transport, the official
// instrumentation: measured, it costs no more than a hand-written one would,
// and it already handles bodies, redirects and errors. Its HTTP metrics are
// switched off; the metrics package owns those.
func NewTransport(base http.RoundTripper, opts ...HTTPOption) http.RoundTripper {
	var c httpConfig
	for _, o := range opts {
		o.apply(&c)
	}
	oopts := []otelhttp.Option{
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return spanMethod(r.Method) }),
	}
	if c.tp != nil {
		oopts = append(oopts, otelhttp.WithTracerProvider(c.tp))
	}
	if c.prop != nil {
		oopts = append(oopts, otelhttp.WithPropagators(c.prop))
	}
	return otelhttp.NewTransport(base, oopts...)
}
