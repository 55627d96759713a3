package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
)

// Transport wraps base (http.DefaultTransport when nil) so that each
// request gets a client span, named after its method as the semantic
// conventions ask, ending when the response body is closed or read to the
// end, and carries the traceparent, tracestate and baggage headers of the
// request's context. With no options the spans come from the global
// provider and the headers are written with the global propagator.
//
// Client spans come from otelhttp's transport, the official
// instrumentation: measured, it costs no more than a hand-written one would,
// and it already handles bodies, redirects and errors. Its HTTP metrics are
// switched off; the metrics package owns those.
func Transport(base http.RoundTripper, opts ...TransportOption) http.RoundTripper {
	var c config
	for _, o := range opts {
		o.applyClient(&c)
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
