package logging

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/request"
)

// The access line without zap's per-field machinery.
//
// Writing the access line through zap (a Field per value, copied into a
// pooled slice, each added to the JSON encoder through Field.AddTo, the
// entry checked and written through its cores) was the largest single
// cost prodready added to a request: 2.5 µs of the 7 µs between catalog
// and its bare twin under load (issue 29, benchmarks/cmd/load with and
// without LOG_LEVEL=warn). zap encodes well, and it still encodes every
// part of the line that is not per request: the level, the logger name,
// the message and the logger's context fields are encoded by the logger's
// own zap encoder once, when the middleware is made, around a sentinel
// time (accessLine's head and tail). Per request, only the time and the
// request's fields are appended here, with zap's JSON string escaping
// (appendJSONString) and number formats. FuzzAccessLineParity holds the
// result byte for byte to what zap writes for the same line, for every
// field set, and TestAccessLineParity for the cases that matter (control
// characters, invalid UTF-8, quotes, a panic, each level).
//
// It is used only when the logger is logging.New's own, unwrapped (no
// Sampling, no zap hooks, no With): anything else goes through zap.

// lineCore is the core at the bottom of a logger made by New: zap's own
// (zapcore.NewCore) with the context fields New adds, and beside it a
// clone of its encoder holding the same fields, and its writer, for
// accessLine. A logger derived with With gets zap's core alone.
type lineCore struct {
	zapcore.Core
	enc zapcore.Encoder     // the encoder with the context fields
	out zapcore.WriteSyncer // where Core writes
}

func newLineCore(enc zapcore.Encoder, out zapcore.WriteSyncer, lvl zapcore.LevelEnabler, fields []zapcore.Field) *lineCore {
	ctx := enc.Clone()
	for i := range fields {
		fields[i].AddTo(ctx)
	}
	return &lineCore{Core: zapcore.NewCore(enc, out, lvl).With(fields), enc: ctx, out: out}
}

func (c *lineCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// accessLine writes the access lines of one middleware (see above).
type accessLine struct {
	out   zapcore.WriteSyncer
	flush *bufferedWriter // a Buffer's: flushed for a warning or worse, as flushCore does

	// head and tail, by level (info, warn, error): the line zap encodes
	// for the entry with no fields, before and after its time's value.
	head, tail [3][]byte
	// Each field's `,"key":`, by the middleware's keys.
	method, route, path, status, bytes, duration, remote, userAgent,
	correlation, traceID, spanID, sampled, errorType []byte
}

// sentinel is the time the head and tail are cut around.
var sentinel = time.Date(2001, 2, 3, 4, 5, 6, 7008009, time.UTC)

// newAccessLine returns the access line for a middleware on core, or nil
// when core is not New's own or its lines cannot be cut around the time:
// the middleware then writes through zap.
func newAccessLine(core zapcore.Core, name string, k *keys) *accessLine {
	a := &accessLine{}
	var lc *lineCore
	for lc == nil {
		switch c := core.(type) {
		case keyedCore:
			core = c.Core
		case *flushCore:
			a.flush = c.w
			core = c.Core
		case *lineCore:
			lc = c
		default:
			return nil // zap's, a sampler, hooks, a With: zap writes
		}
	}
	a.out = lc.out
	q := appendUTCTime([]byte{'"'}, sentinel)
	q = append(q, '"')
	for i, lvl := range []zapcore.Level{zapcore.InfoLevel, zapcore.WarnLevel, zapcore.ErrorLevel} {
		buf, err := lc.enc.Clone().EncodeEntry(zapcore.Entry{Level: lvl, Time: sentinel, LoggerName: name, Message: "request"}, nil)
		if err != nil {
			return nil
		}
		line := bytes.Clone(buf.Bytes())
		buf.Free()
		at := bytes.Index(line, q)
		if at < 0 || bytes.Count(line, q) != 1 || !bytes.HasSuffix(line, []byte("}\n")) {
			return nil // no time, or a layout this does not know
		}
		a.head[i] = line[:at+1]
		a.tail[i] = line[at+len(q)-1 : len(line)-2]
	}
	key := func(k string) []byte { return append(appendJSONString([]byte(`,"`), k), `":`...) }
	a.method, a.route, a.path, a.status, a.bytes = key(k.method), key(k.route), key(k.path), key(k.status), key(k.bytes)
	a.duration, a.remote, a.userAgent, a.correlation = key(k.duration), key(k.remote), key(k.userAgent), key(k.correlation)
	a.traceID, a.spanID, a.sampled, a.errorType = key(k.traceID), key(k.spanID), key(k.sampled), key(k.errorType)
	return a
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// write writes the access line of a request that did not panic, in the
// order of middleware.logAccess's fields.
func (a *accessLine) write(m *middleware, lvl zapcore.Level, r *http.Request, rl *reqLog, o *request.Outcome, sc trace.SpanContext) {
	k := m.k
	i := 0
	switch lvl {
	case zapcore.WarnLevel:
		i = 1
	case zapcore.ErrorLevel:
		i = 2
	}
	bp := linePool.Get().(*[]byte)
	b := append((*bp)[:0], a.head[i]...)
	b = appendUTCTime(b, o.End)
	b = append(b, a.tail[i]...)
	b = appendField(b, a.method, bounded(r.Method, maxValueBytes))
	b = appendField(b, a.route, bounded(o.Route, maxValueBytes))
	if m.path {
		b = appendField(b, a.path, bounded(r.URL.Path, maxValueBytes))
	}
	b = strconv.AppendInt(append(b, a.status...), int64(o.Status), 10)
	b = strconv.AppendInt(append(b, a.bytes...), o.Bytes, 10)
	b = append(b, a.duration...)
	if k.durationNanos {
		b = strconv.AppendInt(b, o.Duration.Nanoseconds(), 10)
	} else {
		// As zap writes a float64 (a duration is never NaN or infinite).
		b = strconv.AppendFloat(b, o.Duration.Seconds(), 'f', -1, 64)
	}
	b = appendField(b, a.remote, bounded(r.RemoteAddr, maxValueBytes))
	b = appendField(b, a.userAgent, bounded(request.FirstValue(r.Header, "User-Agent"), maxValueBytes))
	b = appendField(b, a.correlation, rl.hdr[0])
	if sc.IsValid() {
		tid, sid := sc.TraceID(), sc.SpanID()
		b = appendJSONString(append(append(b, a.traceID...), '"'), k.tracePrefix)
		b = append(appendHex(b, tid[:]), '"')
		b = append(append(b, a.spanID...), '"')
		b = append(appendHex(b, sid[:]), '"')
		if k.sampled != "" {
			b = append(b, a.sampled...)
			if sc.IsSampled() {
				b = append(b, "true"...)
			} else {
				b = append(b, "false"...)
			}
		}
	}
	if o.ErrorType != "" {
		b = appendField(b, a.errorType, o.ErrorType)
	}
	b = append(b, '}', '\n')
	_, err := a.out.Write(b)
	if err == nil && lvl >= zapcore.WarnLevel && a.flush != nil {
		err = a.flush.flush()
	}
	if err != nil {
		// As zap's CheckedEntry.Write reports a failed write.
		_, _ = fmt.Fprintf(m.errOut, "%v write error: %v\n", o.End, err)
		_ = m.errOut.Sync()
	}
	*bp = b[:0]
	linePool.Put(bp)
}

// appendField appends a string field: key is its `,"key":`.
func appendField(b, key []byte, v string) []byte {
	return append(appendJSONString(append(append(b, key...), '"'), v), '"')
}

// appendJSONString appends s as zap's JSON encoder writes a string's
// contents: '\\' and '"' escaped, \n \r \t, other bytes below 0x20 as
// \u00XX, invalid UTF-8 as \ufffd, everything else as it is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(append(b, s[last:i]...), `\ufffd`...)
			i++
			last = i
			continue
		}
		if c >= 0x20 && c != '\\' && c != '"' {
			i++
			continue
		}
		b = append(b, s[last:i]...)
		switch c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		last = i
	}
	return append(b, s[last:]...)
}

// appendUTCTime appends t in UTC as time.RFC3339Nano formats it (what
// utcTime writes), from the digits, without the layout's parsing.
func appendUTCTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	h, mi, s := t.Clock()
	const digit = "0123456789"
	b = append(b, digit[y/1000], digit[y/100%10], digit[y/10%10], digit[y%10], '-',
		digit[mo/10], digit[mo%10], '-', digit[d/10], digit[d%10], 'T',
		digit[h/10], digit[h%10], ':', digit[mi/10], digit[mi%10], ':', digit[s/10], digit[s%10])
	if ns := t.Nanosecond(); ns != 0 {
		var frac [9]byte
		for i := 8; i >= 0; i-- {
			frac[i] = digit[ns%10]
			ns /= 10
		}
		n := 9
		for frac[n-1] == '0' {
			n--
		}
		b = append(append(b, '.'), frac[:n]...)
	}
	return append(b, 'Z')
}
