package logging

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/prodready/prodready/internal/request"
)

// FromContext returns the request's logger: the Middleware's logger with
// correlation_id and, when ctx carries a span, trace_id and span_id. It is
// made on the first call and its fields are encoded on its first line
// (zap's WithLazy), so a handler that never logs pays almost nothing.
// Called with a context that carries another span (a child span), it
// returns a logger with that span's IDs.
//
// Outside a request it returns zap.L() (a no-op unless the program called
// zap.ReplaceGlobals) with the trace IDs of ctx: never nil.
func FromContext(ctx context.Context) *zap.Logger {
	if st := request.From(ctx); st != nil {
		if rl, ok := st.Logger.(*reqLog); ok {
			return rl.contextLogger(trace.SpanContextFromContext(ctx))
		}
	}
	l := zap.L()
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return l.WithLazy(appendTrace(nil, otelKeys, sc)...)
	}
	return l
}

// CorrelationID returns the correlation ID of the request ctx belongs to,
// or "" outside one.
func CorrelationID(ctx context.Context) string {
	if st := request.From(ctx); st != nil {
		return st.CorrelationID
	}
	return ""
}

// contextLogger returns the request logger for span sc, reusing the last
// one when the span is the same.
func (rl *reqLog) contextLogger(sc trace.SpanContext) *zap.Logger {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.logger != nil && rl.span.Equal(sc) {
		return rl.logger
	}
	k := rl.m.k
	fs := rl.fields[:0]
	if rl.logger != nil {
		fs = nil // the first logger still owns rl.fields
	}
	fs = append(fs, zap.String(k.correlation, rl.hdr[0]))
	fs = appendTrace(fs, k, sc)
	rl.logger, rl.span = rl.m.base.WithLazy(fs...), sc
	return rl.logger
}

// seenSpan returns the span the request logger was last built for.
func (rl *reqLog) seenSpan() trace.SpanContext {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.span
}

// Transport forwards the correlation ID of the request in the outgoing
// request's context, in the first of the Middleware's Headers (default
// X-Correlation-ID), so that the next service logs the same ID. A request
// that already has the header, or a context with no ID, goes out as it is.
// A nil base means http.DefaultTransport.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base}
}

type transport struct{ base http.RoundTripper }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := request.From(req.Context())
	if st == nil || st.CorrelationID == "" {
		return t.base.RoundTrip(req)
	}
	name := "X-Correlation-Id"
	if rl, ok := st.Logger.(*reqLog); ok {
		name = rl.m.headers[0]
	}
	if len(req.Header[name]) > 0 {
		return t.base.RoundTrip(req)
	}
	// A RoundTripper must not change the caller's request: copy it and its
	// header map before adding to it.
	out := new(http.Request)
	*out = *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header, 1)
	}
	out.Header[name] = []string{st.CorrelationID}
	return t.base.RoundTrip(out)
}

// CloseIdleConnections passes http.Client.CloseIdleConnections through.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
