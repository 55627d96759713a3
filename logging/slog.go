package logging

import (
	"context"
	"log/slog"
	"runtime"
	"slices"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Why not go.uber.org/zap/exp/zapslog: it is a module of its own outside
// the dependencies this library allows itself, still v0, and its handler
// takes nothing from the context, where the correlation ID and the span
// are: health, shutdown and secrets log through slog with the request's
// context, and their lines must carry the same IDs as the access line.
//
// Slog returns a *slog.Logger that writes through logger's core (same
// output, level, sampling, service and version), for code that speaks
// log/slog. Each line gets correlation_id, trace_id and span_id from the
// context passed to the *Context methods (slog.InfoContext and friends).
// Groups become nested objects; the IDs stay at the top level. A nil logger
// means zap.L().
func Slog(logger *zap.Logger) *slog.Logger {
	if logger == nil {
		logger = zap.L()
	}
	return slog.New(&slogHandler{core: logger.Core(), k: keysOf(logger), name: logger.Name()})
}

var _ slog.Handler = (*slogHandler)(nil)

type slogHandler struct {
	core   zapcore.Core // with the attributes added before any group
	k      *keys
	name   string
	groups []slogGroup // open groups, outermost first
}

// slogGroup is a group opened by WithGroup and the attributes added in it.
type slogGroup struct {
	name  string
	attrs []slog.Attr
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.core.Enabled(zapLevel(l))
}

func (h *slogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := *h
	if len(h.groups) == 0 {
		h2.core = h.core.With(appendAttrs(nil, as))
		return &h2
	}
	h2.groups = slices.Clone(h.groups)
	last := &h2.groups[len(h2.groups)-1]
	last.attrs = append(slices.Clip(last.attrs), as...)
	return &h2
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), slogGroup{name: name})
	return &h2
}

func (h *slogHandler) Handle(ctx context.Context, rec slog.Record) error {
	ent := zapcore.Entry{
		Level:      zapLevel(rec.Level),
		Time:       rec.Time,
		Message:    rec.Message,
		LoggerName: h.name,
	}
	if rec.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{rec.PC}).Next()
		ent.Caller = zapcore.EntryCaller{Defined: true, PC: rec.PC, File: f.File, Line: f.Line, Function: f.Function}
	}
	ce := h.core.Check(ent, nil)
	if ce == nil {
		return nil
	}
	if ent.Level >= zapcore.ErrorLevel {
		// As New's logger does; skip Handle and slog's own frames.
		ce.Stack = zap.StackSkip("", 3).String
	}
	fs := make([]zap.Field, 0, rec.NumAttrs()+4)
	if rl := reqLogOf(ctx); rl != nil {
		fs = append(fs, zap.String(h.k.correlation, rl.hdr[0]))
	}
	fs = appendTrace(fs, h.k, trace.SpanContextFromContext(ctx))
	if len(h.groups) == 0 {
		rec.Attrs(func(a slog.Attr) bool {
			fs = appendAttr(fs, a)
			return true
		})
	} else if g := (groupObject{h.groups, &rec}); !g.empty() {
		fs = append(fs, zap.Object(h.groups[0].name, g))
	}
	ce.Write(fs...)
	return nil
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}

func appendAttrs(fs []zap.Field, as []slog.Attr) []zap.Field {
	for _, a := range as {
		fs = appendAttr(fs, a)
	}
	return fs
}

// appendAttr converts a, following slog's rules for handlers: values are
// resolved, empty attributes and empty groups are left out, a group with an
// empty key is inlined.
func appendAttr(fs []zap.Field, a slog.Attr) []zap.Field {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return fs
	}
	v := a.Value
	switch v.Kind() {
	case slog.KindGroup:
		as := v.Group()
		if attrsEmpty(as) {
			return fs
		}
		if a.Key == "" {
			return appendAttrs(fs, as)
		}
		return append(fs, zap.Object(a.Key, attrObject(as)))
	case slog.KindString:
		return append(fs, zap.String(a.Key, v.String()))
	case slog.KindInt64:
		return append(fs, zap.Int64(a.Key, v.Int64()))
	case slog.KindUint64:
		return append(fs, zap.Uint64(a.Key, v.Uint64()))
	case slog.KindFloat64:
		return append(fs, zap.Float64(a.Key, v.Float64()))
	case slog.KindBool:
		return append(fs, zap.Bool(a.Key, v.Bool()))
	case slog.KindDuration:
		return append(fs, zap.Duration(a.Key, v.Duration()))
	case slog.KindTime:
		return append(fs, zap.Time(a.Key, v.Time()))
	}
	return append(fs, zap.Any(a.Key, v.Any()))
}

// attrsEmpty reports whether as would add nothing to a line.
func attrsEmpty(as []slog.Attr) bool {
	for _, a := range as {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			continue
		}
		if a.Value.Kind() == slog.KindGroup && attrsEmpty(a.Value.Group()) {
			continue
		}
		return false
	}
	return true
}

// attrObject writes a slog group as a JSON object.
type attrObject []slog.Attr

func (as attrObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, f := range appendAttrs(nil, as) {
		f.AddTo(enc)
	}
	return nil
}

// groupObject writes the open groups, innermost holding the record's
// attributes, as nested objects.
type groupObject struct {
	groups []slogGroup
	rec    *slog.Record
}

func (g groupObject) inner() groupObject { return groupObject{g.groups[1:], g.rec} }

func (g groupObject) empty() bool {
	if !attrsEmpty(g.groups[0].attrs) {
		return false
	}
	if len(g.groups) > 1 {
		return g.inner().empty()
	}
	empty := true
	g.rec.Attrs(func(a slog.Attr) bool {
		empty = attrsEmpty([]slog.Attr{a})
		return empty
	})
	return empty
}

func (g groupObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, f := range appendAttrs(nil, g.groups[0].attrs) {
		f.AddTo(enc)
	}
	if len(g.groups) > 1 {
		if in := g.inner(); !in.empty() {
			return enc.AddObject(g.groups[1].name, in)
		}
		return nil
	}
	g.rec.Attrs(func(a slog.Attr) bool {
		for _, f := range appendAttr(nil, a) {
			f.AddTo(enc)
		}
		return true
	})
	return nil
}
