package logging

import (
	"net/http"
	"net/textproto"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/request"
)

// An Option configures Middleware and Transport.
type Option interface{ apply(*middleware) }

type optionFunc func(*middleware)

func (f optionFunc) apply(m *middleware) { f(m) }

// Headers sets the request headers a correlation ID is taken from, tried
// in order; the first is also the response header the ID is echoed in and
// the header Transport forwards it in (given to Transport itself, it names
// that header). The default is X-Correlation-ID, then X-Request-ID.
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
		for _, p := range paths {
			m.skip[p] = struct{}{}
		}
	})
}

// AccessLog turns the access line on (the default) or off; off keeps the
// correlation ID and the request logger.
func AccessLog(on bool) Option {
	return optionFunc(func(m *middleware) { m.access = on })
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
	headers []string            // canonical form, so lookups do not allocate
	skip    map[string]struct{}
	access  bool
}

// Middleware gives every request a correlation ID and a request logger
// (FromContext), and writes one access line when the request ends.
//
// The ID comes from the first of the Headers that holds a valid one (1–128
// characters of [A-Za-z0-9._:-]), else it is a new UUIDv7; it goes back in
// the response header. The access line has method, route, path, status,
// bytes, duration (seconds), remote, user_agent, correlation_id and, when a
// span is in the request context, trace_id and span_id. Its level is info,
// or error for a 5xx status, so that alerting on error lines catches server
// failures and not client mistakes or scanners. A panicking handler gets a
// line with status 500, the panic value and the stack at error level,
// then the panic goes on to net/http; http.ErrAbortHandler, a deliberate
// abort, is logged at warn with no stack.
//
// The access line has no caller or stack trace: both would point into
// this package.
//
// Put it inside the tracing middleware so that the access line carries the
// server span's IDs. A nil logger means zap.L().
func Middleware(logger *zap.Logger, opts ...Option) func(http.Handler) http.Handler {
	if logger == nil {
		logger = zap.L()
	}
	m := &middleware{
		base:    logger,
		k:       keysOf(logger),
		headers: []string{"X-Correlation-Id", "X-Request-Id"},
		skip:    make(map[string]struct{}),
		access:  true,
		errOut:  zapcore.Lock(os.Stderr),
	}
	for _, o := range opts {
		o.apply(m)
	}
	if len(m.headers) == 0 {
		m.headers = []string{"X-Correlation-Id"}
	}
	m.core, m.name = logger.Core(), logger.Name()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.serve(next, w, r)
		})
	}
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

func (m *middleware) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	st, w, r := request.Enter(r.Context(), w, r)
	if _, ours := st.Logging.(*reqLog); ours {
		// An outer instance of this middleware has done the work.
		next.ServeHTTP(w, r)
		return
	}
	// The clock is read once for the start and a new ID's timestamp, and
	// not at all when neither is needed: on some VMs a reading costs more
	// than the rest of this function.
	var start time.Time
	if m.access {
		start = time.Now()
	}
	id := m.incomingID(r.Header)
	if id == "" {
		if !m.access {
			start = time.Now()
		}
		id = newID(start)
	}
	rl := &reqLog{m: m}
	rl.hdr[0] = id
	w.Header()[m.headers[0]] = rl.hdr[:]
	st.Logging = rl
	if !m.access {
		next.ServeHTTP(w, r)
		return
	}
	if _, skip := m.skip[r.URL.Path]; skip {
		next.ServeHTTP(w, r)
		return
	}
	done := false
	defer func() {
		if done {
			return
		}
		v := recover()
		if v == nil {
			// runtime.Goexit (t.FailNow in a test handler): nothing to
			// re-raise, and recover has not stopped anything.
			m.logAccess(st, r, rl, start, nil, false)
			return
		}
		m.logAccess(st, r, rl, start, v, true)
		panic(v) // on to net/http, which aborts the response
	}()
	next.ServeHTTP(w, r)
	done = true
	m.logAccess(st, r, rl, start, nil, false)
}

// incomingID returns the first valid ID among the configured headers.
func (m *middleware) incomingID(h http.Header) string {
	for _, name := range m.headers {
		if v := h[name]; len(v) > 0 && validID(v[0]) {
			return v[0]
		}
	}
	return ""
}

// accessFields pools the field slice of access lines: zap's Write takes the
// fields through an interface, so a local slice would escape every time.
var accessFields = sync.Pool{New: func() any { s := make([]zap.Field, 0, 16); return &s }}

func (m *middleware) logAccess(st *request.State, r *http.Request, rl *reqLog, start time.Time, pv any, panicked bool) {
	st.CaptureRoute(r)
	status := st.StatusOr(http.StatusOK) // 101 for a hijacked connection
	if panicked {
		status = st.StatusOr(http.StatusInternalServerError)
	}
	abort := panicked && pv == http.ErrAbortHandler
	lvl := zapcore.InfoLevel
	switch {
	case abort:
		lvl = zapcore.WarnLevel
	case panicked, status >= 500:
		lvl = zapcore.ErrorLevel
	}
	// One clock reading for both the line's time and the duration.
	end := time.Now()
	ce := m.core.Check(zapcore.Entry{Level: lvl, Time: end, LoggerName: m.name, Message: "request"}, nil)
	if ce == nil {
		return
	}
	ce.ErrorOutput = m.errOut
	k := m.k
	d := end.Sub(start)
	fp := accessFields.Get().(*[]zap.Field)
	fs := append((*fp)[:0],
		zap.String(k.method, r.Method),
		zap.String(k.route, st.Route()),
		zap.String(k.path, r.URL.Path),
		zap.Int(k.status, status),
		zap.Int64(k.bytes, st.Bytes()),
	)
	if k.durationNanos {
		fs = append(fs, zap.Int64(k.duration, d.Nanoseconds()))
	} else {
		fs = append(fs, zap.Float64(k.duration, d.Seconds()))
	}
	fs = append(fs,
		zap.String(k.remote, r.RemoteAddr),
		zap.String(k.userAgent, r.UserAgent()),
		zap.String(k.correlation, rl.hdr[0]),
	)
	sc := trace.SpanContextFromContext(r.Context())
	if !sc.IsValid() {
		sc = rl.seenSpan() // tracing ran inside us; FromContext saw its span
	}
	fs = appendTrace(fs, k, sc)
	switch {
	case abort:
		fs = append(fs, zap.Bool(k.aborted, true))
	case panicked:
		fs = append(fs, zap.Any(k.panicKey, pv), zap.StackSkip(k.stack, 2))
	}
	ce.Write(fs...)
	clear(fs)
	*fp = fs[:0]
	accessFields.Put(fp)
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
