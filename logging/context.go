package logging

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/request"
)

// FromContext returns the request's logger: the Middleware's logger with
// correlation_id and, when ctx carries a span, trace_id and span_id. It is
// made on the first call and adds its fields as each line is written
// (nothing is encoded up front), so a handler that never logs pays almost
// nothing.
// Called with a context that carries another span (a child span), it
// returns a logger with that span's IDs.
//
// Outside a request it returns zap.L() (a no-op unless the program called
// zap.ReplaceGlobals) with the trace IDs of ctx: never nil.
func FromContext(ctx context.Context) *zap.Logger {
	if rl := reqLogOf(ctx); rl != nil {
		return rl.contextLogger(trace.SpanContextFromContext(ctx))
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
	if rl := reqLogOf(ctx); rl != nil {
		return rl.hdr[0]
	}
	return ""
}

// reqLogOf returns the logging middleware's data for the request ctx
// belongs to, or nil.
func reqLogOf(ctx context.Context) *reqLog {
	if st := request.From(ctx); st != nil {
		rl, _ := st.Logging.(*reqLog)
		return rl
	}
	return nil
}

// contextLogger returns the request logger for span sc, reusing the last
// one when the span is the same.
func (rl *reqLog) contextLogger(sc trace.SpanContext) *zap.Logger {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.logger != nil && rl.span.Equal(sc) {
		return rl.logger
	}
	rc := &reqCore{k: rl.m.k, errOut: rl.m.errOut}
	rc.fields = append(rc.buf[:0], zap.String(rc.k.correlation, rl.hdr[0]))
	rc.fields = appendTrace(rc.fields, rc.k, sc)
	rl.logger, rl.span = rl.m.base.WithOptions(zap.WrapCore(rc.wrap)), sc
	return rl.logger
}

// reqCore adds the request's fields to each entry as it is written. Unlike
// Logger.With it encodes nothing up front and clones no encoder, so a
// request logger costs a few small allocations, and one per line.
type reqCore struct {
	zapcore.Core
	k      *keys
	errOut zapcore.WriteSyncer
	fields []zap.Field
	buf    [4]zap.Field
}

func (c *reqCore) wrap(inner zapcore.Core) zapcore.Core {
	c.Core = inner
	return c
}

func (c *reqCore) With(fs []zap.Field) zapcore.Core {
	return &reqCore{Core: c.Core.With(fs), k: c.k, errOut: c.errOut, fields: c.fields}
}

func (c *reqCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// Write asks the inner core again, so that a sampler still decides on each
// line, and writes the request's fields ahead of the line's own.
func (c *reqCore) Write(ent zapcore.Entry, fs []zap.Field) error {
	ce := c.Core.Check(ent, nil)
	if ce == nil {
		return nil
	}
	ce.ErrorOutput = c.errOut
	all := make([]zap.Field, 0, len(c.fields)+len(fs))
	ce.Write(append(append(all, c.fields...), fs...)...)
	return nil
}

func (c *reqCore) Level() zapcore.Level { return zapcore.LevelOf(c.Core) }

func (c *reqCore) fieldKeys() *keys { return c.k }

// seenSpan returns the span the request logger was last built for.
func (rl *reqLog) seenSpan() trace.SpanContext {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.span
}
