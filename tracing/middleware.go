package tracing

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/prodready/prodready/internal/request"
)

// ScopeName is the instrumentation scope of the spans this package makes.
const ScopeName = "github.com/prodready/prodready/tracing"

// An Option configures Middleware.
type Option interface{ applyServer(*config) }

// A TransportOption configures Transport.
type TransportOption interface{ applyClient(*config) }

// A SharedOption configures Middleware and Transport alike.
type SharedOption interface {
	Option
	TransportOption
}

type config struct {
	tp     trace.TracerProvider
	prop   propagation.TextMapPropagator
	public bool
	skip   request.Paths
	log    *slog.Logger
}

type serverOption func(*config)

func (f serverOption) applyServer(c *config) { f(c) }

type sharedOption func(*config)

func (f sharedOption) applyServer(c *config) { f(c) }
func (f sharedOption) applyClient(c *config) { f(c) }

// TracerProvider makes spans with tp instead of the global provider, for
// Setup with Config.NoGlobal and for tests.
func TracerProvider(tp trace.TracerProvider) SharedOption {
	return sharedOption(func(c *config) { c.tp = tp })
}

// Propagator reads and writes trace context with p instead of the global
// propagator.
func Propagator(p propagation.TextMapPropagator) SharedOption {
	return sharedOption(func(c *config) { c.prop = p })
}

// PublicEndpoint sets whether the handler faces the internet (default
// false). A public endpoint does not trust an incoming traceparent: each
// request starts a new trace, linked to the caller's span context so the
// two can still be joined.
func PublicEndpoint(public bool) Option {
	return serverOption(func(c *config) { c.public = public })
}

// SkipPaths lists URL paths that get no span (probes and /metrics). The
// trace context still passes through to the handler.
func SkipPaths(paths ...string) Option {
	return serverOption(func(c *config) { c.skip = c.skip.Add(paths...) })
}

// Logger sets where the middleware's own lines go (the warning about a
// route that did not reach it, a panic no access line recorded) when
// prodready's logging middleware is not in the stack; with it, they go
// to the logging middleware's logger. nil means slog.Default().
func Logger(l *slog.Logger) Option {
	return serverOption(func(c *config) { c.log = l })
}

// Middleware returns middleware that makes a server span for each
// request, named "METHOD route" once the handler has run (the route from
// the request state shared with prodready's logging and metrics
// middlewares, or from r.Pattern), "METHOD" for requests that matched no
// route. The span carries the HTTP semantic-convention attributes, the
// status and error.type that the other two record (see the metrics
// package), status Error when error.type is set, and for a panic an
// "exception" event; the panic is answered as the root package says.
// Applied twice to one request, it makes one span. Sampled or not, it
// creates the request state the layers inside share, so the request is
// copied once for the span's context and the state together.
//
// With no options the spans come from the global provider, the incoming
// trace context is honoured with the global propagator, and every path is
// traced.
//
// Put it outermost among prodready's middlewares so the others (and their
// log lines and exemplars) see the span.
func Middleware(opts ...Option) func(http.Handler) http.Handler {
	var c config
	for _, o := range opts {
		o.applyServer(&c)
	}
	return func(next http.Handler) http.Handler {
		m := &middleware{next: next, cfg: c}
		if c.tp != nil {
			m.fixed = newTracer(c.tp)
		}
		return m
	}
}

type middleware struct {
	next  http.Handler
	cfg   config
	fixed trace.Tracer // from the TracerProvider option
	cache atomic.Pointer[tracerCache]
}

var _ http.Handler = (*middleware)(nil)

// tracerCache remembers the tracer of the last global provider seen, so the
// SDK's locked tracer lookup is not paid per request, while a later
// otel.SetTracerProvider still takes effect.
type tracerCache struct {
	tp trace.TracerProvider
	tr trace.Tracer
}

func newTracer(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer(ScopeName, trace.WithInstrumentationVersion(scopeVersion()), trace.WithSchemaURL(semconv.SchemaURL))
}

// module is the path of the module this package belongs to.
const module = "github.com/prodready/prodready"

// scopeVersion is the version of the instrumentation scope: the version of
// this module the binary was built with, as its build information records
// it ("(devel)" when the module is the main one, unversioned).
var scopeVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if bi.Main.Path == module {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == module {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
})

func (m *middleware) tracer() trace.Tracer {
	if m.fixed != nil {
		return m.fixed
	}
	tp := otel.GetTracerProvider()
	if c := m.cache.Load(); c != nil && c.tp == tp {
		return c.tr
	}
	tr := newTracer(tp)
	if reflect.TypeOf(tp).Comparable() {
		m.cache.Store(&tracerCache{tp: tp, tr: tr})
	}
	return tr
}

func (m *middleware) propagator() propagation.TextMapPropagator {
	if m.cfg.prop != nil {
		return m.cfg.prop
	}
	return otel.GetTextMapPropagator()
}

// Span start options shared by every request: passing a prebuilt slice
// spares an allocation per request.
var (
	serverStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	publicStart = []trace.SpanStartOption{serverStart[0], trace.WithNewRoot()}
)

// attrBuf holds a request's attributes until SetAttributes has copied them
// into the span.
type attrBuf struct{ a [24]attribute.KeyValue }

var attrPool = sync.Pool{New: func() any { return new(attrBuf) }}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.cfg.skip.Has(r.URL.Path) {
		request.Pass(0, r.Context(), w, r, m.next)
		return
	}
	if request.From(r.Context()).Claimed(request.Tracing) {
		// Another tracing middleware outside has the server span; a
		// second one would be a child of it, or of the caller's span.
		request.Pass(0, r.Context(), w, r, m.next)
		return
	}

	ctx := m.propagator().Extract(r.Context(), headerCarrier(r.Header))

	opts := serverStart
	if m.cfg.public {
		opts = publicStart
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsRemote() {
			// The full slice expression makes append copy, never write
			// into the shared publicStart.
			opts = append(publicStart[:len(publicStart):len(publicStart)], trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	// The request attributes are set when the span ends, in one call with
	// the response's, not passed to Start: trace.WithAttributes copies
	// them into a fresh slice per request, the costliest part of a span
	// start. Samplers therefore see the name, kind and parent, not the
	// attributes; SkipPaths is the way to leave probes out.
	ctx, span := m.tracer().Start(ctx, spanMethod(r.Method), opts...)
	if !span.IsRecording() {
		// Unsampled: nothing to name or annotate, so the layer records
		// nothing, but it still enters the request state, creating it
		// when it is the outermost: the one request copy that hands the
		// span's context down then also carries the state, and the
		// layers inside join it without a copy of their own. The span
		// goes down for its trace context.
		defer span.End()
		request.Serve(request.Tracing, ctx, w, r, m.next, (*unsampled)(m))
		return
	}
	// Not defer span.End(): called straight from a defer, the SDK's End
	// recovers and records a panic passing by (the http.ErrAbortHandler
	// Serve raises to abort a connection) as a second exception event.
	defer func() { span.End() }()
	request.Serve(request.Tracing, ctx, w, r, m.next, (*recorder)(m))
}

// recorder is the middleware in its role in the request protocol.
type recorder middleware

// unsampled is the middleware's role for a request it does not record:
// its logger for the protocol's own lines, and no record.
type unsampled middleware

func (u *unsampled) Begin(st *request.State, _ http.ResponseWriter, _ *http.Request) bool {
	st.SetLogger(u.cfg.log, false)
	return false
}

func (*unsampled) Record(*request.State, *http.Request, *request.Outcome) {}

func (rec *recorder) Begin(st *request.State, _ http.ResponseWriter, _ *http.Request) bool {
	st.SetLogger(rec.cfg.log, false)
	return true
}

// Record names the recording span after its route and adds the response
// attributes; the deferred End in ServeHTTP ends it.
func (rec *recorder) Record(st *request.State, r *http.Request, o *request.Outcome) {
	span := trace.SpanFromContext(r.Context())
	method := spanMethod(r.Method)
	buf := attrPool.Get().(*attrBuf)
	defer attrPool.Put(buf)
	attrs := requestAttrs(buf.a[:0], r)
	if o.Route != request.Unmatched {
		span.SetName(spanName(method, o.Route, r.Pattern))
		attrs = append(attrs, semconv.HTTPRoute(o.Route))
	}
	if r.ContentLength > 0 {
		attrs = append(attrs, semconv.HTTPRequestBodySize(int(r.ContentLength)))
	}
	if o.Bytes > 0 {
		attrs = append(attrs, semconv.HTTPResponseBodySize(int(o.Bytes)))
	}
	attrs = append(attrs, semconv.HTTPResponseStatusCode(o.Status))
	if o.ErrorType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(o.ErrorType))
		_, recovered := st.Panicked()
		switch {
		case o.ErrorType == request.FailPanic && recovered != nil:
			span.AddEvent("exception", trace.WithAttributes(
				semconv.ExceptionType(fmt.Sprintf("%T", recovered)),
				semconv.ExceptionMessage(fmt.Sprint(recovered)),
				semconv.ExceptionStacktrace(st.Stack()),
			))
			span.SetStatus(codes.Error, "panic: "+fmt.Sprint(recovered))
		case o.ErrorType[0] >= '0' && o.ErrorType[0] <= '9': // a 5xx status: it says it all
			span.SetStatus(codes.Error, "")
		default:
			span.SetStatus(codes.Error, o.ErrorType)
		}
	}
	span.SetAttributes(attrs...)
}

// spanMethod is the method as the semantic conventions put it in a span
// name: "HTTP" for methods outside the standard set.
func spanMethod(m string) string {
	if request.MethodIndex(m) == request.OtherMethod {
		return "HTTP"
	}
	return m
}

// names caches "METHOD route" strings: routes are bounded, and building
// the name would otherwise cost an allocation per request.
var (
	names     sync.Map // "METHOD\x00route" is never built; keyed by nameKey
	nameCount atomic.Int64
)

type nameKey struct{ method, route string }

const maxNames = 4096

func spanName(method, route, pattern string) string {
	// A method-qualified pattern ("GET /users/{id}") already is the
	// name: no lookup needed.
	if len(pattern) == len(method)+1+len(route) && pattern[len(method)] == ' ' &&
		strings.HasPrefix(pattern, method) && strings.HasSuffix(pattern, route) {
		return pattern
	}
	k := nameKey{method, route}
	if v, ok := names.Load(k); ok {
		return v.(string)
	}
	name := method + " " + route
	if nameCount.Load() < maxNames {
		if _, loaded := names.LoadOrStore(k, name); !loaded {
			nameCount.Add(1)
		}
	}
	return name
}

// requestAttrs appends the attributes known when the request arrives, the
// same set and order as otelhttp's server spans.
func requestAttrs(attrs []attribute.KeyValue, r *http.Request) []attribute.KeyValue {
	host, port := splitHostPort(r.Host)
	attrs = append(attrs, semconv.ServerAddress(host))
	mi := request.MethodIndex(r.Method)
	attrs = append(attrs, methodAttrs[mi])
	tls := r.TLS != nil
	if tls {
		attrs = append(attrs, semconv.URLScheme("https"))
	} else {
		attrs = append(attrs, semconv.URLScheme("http"))
	}
	if port > 0 && ((tls && port != 443) || (!tls && port != 80)) {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	if mi == request.OtherMethod {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	peer, peerPort := splitHostPort(r.RemoteAddr)
	if peer != "" {
		attrs = append(attrs, semconv.NetworkPeerAddress(peer))
		if peerPort > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(peerPort))
		}
	}
	if ua := request.FirstValue(r.Header, "User-Agent"); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	client := request.FirstValue(r.Header, "X-Forwarded-For")
	if i := strings.IndexByte(client, ','); i >= 0 {
		client = client[:i]
	}
	if client == "" {
		client = peer
	}
	if client != "" {
		attrs = append(attrs, semconv.ClientAddress(client))
	}
	if r.URL != nil && r.URL.Path != "" {
		attrs = append(attrs, semconv.URLPath(r.URL.Path))
	}
	name, version, _ := strings.Cut(r.Proto, "/")
	// EqualFold first: lower-casing "HTTP", as every request spells it,
	// would allocate a string per request only to throw it away.
	if name != "" && !strings.EqualFold(name, "http") {
		attrs = append(attrs, semconv.NetworkProtocolName(strings.ToLower(name)))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	return attrs
}

// methodAttrs are the http.request.method attributes, indexed as
// request.Methods.
var methodAttrs = [request.NumMethods]attribute.KeyValue{
	semconv.HTTPRequestMethodGet, semconv.HTTPRequestMethodHead,
	semconv.HTTPRequestMethodPost, semconv.HTTPRequestMethodPut,
	semconv.HTTPRequestMethodPatch, semconv.HTTPRequestMethodDelete,
	semconv.HTTPRequestMethodConnect, semconv.HTTPRequestMethodOptions,
	semconv.HTTPRequestMethodTrace, semconv.HTTPRequestMethodOther,
}

// splitHostPort splits "host:port", "[v6]:port" or a bare host; port is -1
// when absent or invalid. It does not allocate.
func splitHostPort(hostport string) (string, int) {
	if !strings.Contains(hostport, ":") || strings.HasSuffix(hostport, "]") {
		// No port (net.SplitHostPort would allocate its error).
		return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), -1
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: a bare host, possibly a bracketed IPv6 address.
		return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), -1
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return host, -1
	}
	return host, int(port)
}
