package logging

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"sync"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/correlation"
	"github.com/prodready/prodready/internal/request"
)

// An Option configures Middleware. Transport takes TransportOption.
type Option interface{ apply(*middleware) }

type optionFunc func(*middleware)

func (f optionFunc) apply(m *middleware) { f(m) }

// Headers sets the request headers a correlation ID is taken from, tried
// in order; the first is also the response header the ID is echoed in and
// the header Transport forwards it in (unless Transport is given ForwardAs).
// The default is X-Correlation-ID, then X-Request-ID.
func Headers(names ...string) Option {
	return optionFunc(func(m *middleware) {
		m.headers = m.headers[:0]
		for _, n := range names {
			if n != "" {
				m.headers = append(m.headers, textproto.CanonicalMIMEHeaderKey(n))
			}
		}
	})
}

// SkipPaths leaves requests for these exact paths (probes, /metrics) out of
// the access log. They still get a correlation ID and a request logger.
func SkipPaths(paths ...string) Option {
	return optionFunc(func(m *middleware) {
		m.skip = m.skip.Add(paths...)
	})
}

// AccessLog turns the access line on (the default) or off; off keeps the
// correlation ID and the request logger.
func AccessLog(on bool) Option {
	return optionFunc(func(m *middleware) { m.access = on })
}

// Path sets whether the access line has the request's path (default true).
// Path(false) leaves it out and keeps the route, for services whose paths
// carry emails, tokens or other personal data. The query string is never
// logged.
func Path(on bool) Option {
	return optionFunc(func(m *middleware) { m.path = on })
}

// Fields names the correlation and trace keys for a logger that New did not
// make; a logger from New carries its field set already.
func Fields(f FieldSet) Option {
	return optionFunc(func(m *middleware) { m.k = f.keys() })
}

type middleware struct {
	base    *zap.Logger  // parent of request loggers
	core    zapcore.Core // access lines go straight to it: no caller or stack, which would point here
	name    string       // the logger's name, for access lines
	k       *keys
	errOut  zapcore.WriteSyncer // for request loggers' write errors
	line    *accessLine         // the access line without zap's fields; nil: through zap
	headers []string            // canonical form, so lookups do not allocate
	skip    request.Paths
	slog    *slog.Logger // the same logger, for the protocol's own lines
	access  bool
	path    bool
}

// Middleware gives every request a correlation ID and a request logger
// (FromContext), and writes one access line when the request ends.
//
// The ID comes from the first of the Headers that holds a valid one (1–128
// characters of [A-Za-z0-9._:-]), else it is a new UUIDv7; it goes back in
// the response header. The access line has method, route, path (unless
// Path(false)), status, bytes, duration (seconds), remote, user_agent,
// correlation_id, error_type for a request that failed, and, when a span
// is in the request context, trace_id and span_id. Each value a client
// controls (method, route, path, remote, user agent) and a panic value is
// cut to 1 KiB of JSON, the stack to 8 KiB, each cut value ending in
// "...[truncated]", so that no request makes the line longer than 16 KiB.
//
// The status, bytes, duration, route and error_type are those prodready's
// metrics and tracing middlewares record for the same request (see the
// metrics package for the error types). The line's level is info, error
// for a 5xx status or a failed request (panic, timeout, write_timeout),
// and warn when the client went away (client_gone) or the handler aborted
// with http.ErrAbortHandler (aborted), so that alerting on error lines
// catches server failures and not client mistakes or scanners. A panicking
// handler's line has the panic value and the stack (the only place the
// stack is logged); before anything was written the client gets a 500
// whose JSON body carries the correlation ID (see the root package).
//
// The access line has no caller or stack trace of its own: both would
// point into this package. A second logging middleware on the same
// request (one applied twice) only passes it on.
//
// Put it inside the tracing middleware so that the access line carries the
// server span's IDs. A nil logger means zap.L().
func Middleware(logger *zap.Logger, opts ...Option) func(http.Handler) http.Handler {
	m := newMiddleware(logger, opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			request.Serve(request.Logging, r.Context(), w, r, next, m)
		})
	}
}

func newMiddleware(logger *zap.Logger, opts []Option) *middleware {
	if logger == nil {
		logger = zap.L()
	}
	m := &middleware{
		base:    logger,
		k:       keysOf(logger),
		headers: []string{"X-Correlation-Id", "X-Request-Id"},
		access:  true,
		path:    true,
		errOut:  zapcore.Lock(os.Stderr),
	}
	for _, o := range opts {
		o.apply(m)
	}
	if len(m.headers) == 0 {
		m.headers = []string{"X-Correlation-Id"}
	}
	m.core, m.name = logger.Core(), logger.Name()
	m.line = newAccessLine(m.core, m.name, m.k)
	m.slog = Slog(logger)
	return m
}

// reqLog is the logging middleware's per-request state, kept in
// request.State.Logging: one allocation holds the correlation ID (the
// backing array of the echoed header value) and the request logger, built
// on first use.
type reqLog struct {
	m   *middleware
	hdr [1]string // backing array of the response header value

	mu     sync.Mutex // FromContext may be called from the handler's goroutines
	logger *zap.Logger
	span   trace.SpanContext // the span logger was built for
}

// CorrelationID is the request's ID, for the protocol's answer to a panic.
func (rl *reqLog) CorrelationID() string { return rl.hdr[0] }

// Begin gives the request its correlation ID and request logger, and
// reports whether it gets an access line.
func (m *middleware) Begin(st *request.State, w http.ResponseWriter, r *http.Request) bool {
	id := m.incomingID(r.Header)
	if id == "" {
		id = correlation.New(st.Start())
	}
	rl := &reqLog{m: m}
	rl.hdr[0] = id
	w.Header()[m.headers[0]] = rl.hdr[:]
	st.Logging = rl
	st.SetLogger(m.slog, true)
	return m.access && !m.skip.Has(r.URL.Path)
}

// Record writes the access line.
func (m *middleware) Record(st *request.State, r *http.Request, o *request.Outcome) {
	m.logAccess(st, r, st.Logging.(*reqLog), o)
}

// incomingID returns the first valid ID among the configured headers.
func (m *middleware) incomingID(h http.Header) string {
	for _, name := range m.headers {
		if v := h[name]; len(v) > 0 && correlation.Valid(v[0]) {
			return v[0]
		}
	}
	return ""
}

// accessFields pools the field slice of access lines: zap's Write takes the
// fields through an interface, so a local slice would escape every time.
var accessFields = sync.Pool{New: func() any { s := make([]zap.Field, 0, 16); return &s }}

func (m *middleware) logAccess(st *request.State, r *http.Request, rl *reqLog, o *request.Outcome) {
	lvl := zapcore.InfoLevel
	switch o.ErrorType {
	case "":
	case request.FailAborted, request.FailClientGone, request.FailShed:
		lvl = zapcore.WarnLevel
	default:
		lvl = zapcore.ErrorLevel
	}
	if panicked, pv := st.Panicked(); m.line != nil && (!panicked || pv == nil) {
		if m.core.Enabled(lvl) {
			m.line.write(m, lvl, r, rl, o, accessSpan(r, rl))
		}
		return
	}
	ce := m.core.Check(zapcore.Entry{Level: lvl, Time: o.End, LoggerName: m.name, Message: "request"}, nil)
	if ce == nil {
		return
	}
	ce.ErrorOutput = m.errOut
	k := m.k
	d := o.Duration
	fp := accessFields.Get().(*[]zap.Field)
	fs := append((*fp)[:0],
		zap.String(k.method, bounded(r.Method, maxValueBytes)),
		zap.String(k.route, bounded(o.Route, maxValueBytes)),
	)
	if m.path {
		fs = append(fs, zap.String(k.path, bounded(r.URL.Path, maxValueBytes)))
	}
	fs = append(fs,
		zap.Int(k.status, o.Status),
		zap.Int64(k.bytes, o.Bytes),
	)
	if k.durationNanos {
		fs = append(fs, zap.Int64(k.duration, d.Nanoseconds()))
	} else {
		fs = append(fs, zap.Float64(k.duration, d.Seconds()))
	}
	fs = append(fs,
		zap.String(k.remote, bounded(r.RemoteAddr, maxValueBytes)),
		zap.String(k.userAgent, bounded(request.FirstValue(r.Header, "User-Agent"), maxValueBytes)),
		zap.String(k.correlation, rl.hdr[0]),
	)
	sc := accessSpan(r, rl)
	fs = appendTrace(fs, k, sc)
	if o.ErrorType != "" {
		fs = append(fs, zap.String(k.errorType, o.ErrorType))
	}
	if panicked, pv := st.Panicked(); panicked && pv != nil {
		fs = append(fs, zap.String(k.panicKey, bounded(fmt.Sprint(pv), maxValueBytes)))
		if stack := st.Stack(); stack != "" {
			fs = append(fs, zap.String(k.stack, bounded(stack, maxStackBytes)))
			st.StackLogged()
		}
	}
	ce.Write(fs...)
	clear(fs)
	*fp = fs[:0]
	accessFields.Put(fp)
}

// accessSpan returns the span of the access line: the request's, or the
// one FromContext saw when tracing ran inside logging.
func accessSpan(r *http.Request, rl *reqLog) trace.SpanContext {
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		return sc
	}
	return rl.seenSpan()
}

// appendTrace adds the trace and span IDs of sc, if valid, in one
// allocation for both.
func appendTrace(fs []zap.Field, k *keys, sc trace.SpanContext) []zap.Field {
	if !sc.IsValid() {
		return fs
	}
	var buf [128]byte
	b := append(buf[:0], k.tracePrefix...)
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendHex(b, tid[:])
	split := len(b)
	b = appendHex(b, sid[:])
	s := string(b)
	fs = append(fs, zap.String(k.traceID, s[:split]), zap.String(k.spanID, s[split:]))
	if k.sampled != "" {
		fs = append(fs, zap.Bool(k.sampled, sc.IsSampled()))
	}
	return fs
}

func appendHex(b, src []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range src {
		b = append(b, digits[c>>4], digits[c&0x0f])
	}
	return b
}
