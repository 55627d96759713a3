package routertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/tracing"
)

// Handlers are what a router under test serves. Each router mounts every
// handler with a route for GET only, so that another method is a 405:
//
//	GET /items/{id}          Item
//	GET /missing/{id}        Missing
//	GET /panic/{id}          Panic
//	GET /late/{id}           PanicLate
//	GET /abort/{id}          Abort
//	GET /api/v1/things/{id}  Thing, on a subrouter (group, nested mux)
//	                         mounted at /api/v1
//	GET /api/v1/boom/{id}    Panic, on the same subrouter
//
// and nothing else: the router's own 404 and 405 answer the rest.
type Handlers struct {
	Item      http.HandlerFunc // 200 "item"
	Missing   http.HandlerFunc // writes 404 itself: a route that was matched
	Panic     http.HandlerFunc // panics before writing anything
	PanicLate http.HandlerFunc // writes 200 and part of the body, flushes, then panics
	Abort     http.HandlerFunc // panics with http.ErrAbortHandler before writing
	Thing     http.HandlerFunc // 200 "thing"
}

// handlers are the Handlers every router is given. The panicking ones are
// named functions so that the logged stack can be recognised by them.
var handlers = Handlers{
	Item:      func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "item") },
	Missing:   func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no such item", http.StatusNotFound) },
	Panic:     panicBeforeWriting,
	PanicLate: panicAfterWriting,
	Abort:     func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) },
	Thing:     func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "thing") },
}

func panicBeforeWriting(http.ResponseWriter, *http.Request) {
	panic("routertest: panic before writing")
}

func panicAfterWriting(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "partial")
	_ = http.NewResponseController(w).Flush() // the response has begun on the wire
	panic("routertest: panic after writing")
}

// The frames the logged stack of each panic must show.
const (
	framePanic     = "routertest.panicBeforeWriting"
	framePanicLate = "routertest.panicAfterWriting"
)

// A Router is one router set up the way its documentation says.
type Router struct {
	// New returns the router serving h, its routes named with the line
	// the documentation gives for it.
	New func(h Handlers) http.Handler
	// WithRouteFunc returns the router serving h with its routes named by
	// prodready.RouteFunc(fn) in place of the documented function. Nil
	// leaves out RouteFuncCases.
	WithRouteFunc func(fn func(*http.Request) string, h Handlers) http.Handler
}

// Unmatched is the route of a request no route of the router matched.
const Unmatched = "unmatched"

// MaxRouteBytes bounds the route a route function can make the
// middlewares record, whatever it returns: a route is a label value, an
// attribute and a span name, which a 10 KB string must not become.
const MaxRouteBytes = 256

// authHeader is what the user's auth middleware in the stack requires.
const authHeader = "X-Routertest-User"

type userKey struct{}

// auth is the user's middleware between prodready's and the router: it
// refuses a request without authHeader with a 401 before any router sees
// it, and hands the others on in a request of its own (r.WithContext),
// which keeps from prodready's middlewares whatever the router writes
// into the request it is given.
func auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get(authHeader)
		if user == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

// WithValue is a user middleware that hands the request on with a value
// of its own in the context, as tenancy or auth middlewares do; routers
// under test put it among their own middlewares, after the route line.
func WithValue(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, "inner")))
	})
}

// stack is prodready's three middlewares on fresh sinks, in front of auth
// and a router, served by a real server.
type stack struct {
	srv    *httptest.Server
	logs   *testenv.LogBuffer // the service's JSON logger writes here
	errLog *testenv.LogBuffer // net/http's own log (where a panic dump would go)
	spans  *tracetest.SpanRecorder
	reg    *prometheus.Registry
}

func newStack(t *testing.T, router http.Handler) *stack {
	t.Helper()
	s := &stack{
		logs:   &testenv.LogBuffer{},
		errLog: &testenv.LogBuffer{},
		spans:  tracetest.NewSpanRecorder(),
		reg:    prometheus.NewRegistry(),
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey, enc.EncodeTime = "time", zapcore.RFC3339NanoTimeEncoder
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(s.logs), zapcore.InfoLevel))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	metricsMW, err := metrics.Middleware(s.reg)
	if err != nil {
		t.Fatal(err)
	}
	h := tracing.Middleware(tracing.TracerProvider(tp))(logging.Middleware(logger)(metricsMW(auth(router))))
	s.srv = httptest.NewUnstartedServer(h)
	s.srv.Config.ErrorLog = log.New(s.errLog, "", 0)
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

// response is what the client got: a status and body, or an error when
// the connection was cut before the response was complete.
type response struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// do sends one request on a connection of its own, reads the whole
// response and then closes the server, which waits for the handler and
// every layer above it to return: what the sinks hold is final.
func (s *stack) do(t *testing.T, method, path string, authorized bool) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorized {
		req.Header.Set(authHeader, "alice")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var out response
	res, err := client.Do(req)
	if err == nil {
		out.status, out.header = res.StatusCode, res.Header
		out.body, err = io.ReadAll(res.Body)
		_ = res.Body.Close()
	}
	out.err = err
	s.srv.Close()
	return out
}

// record is what one layer recorded about the request.
type record struct{ route, status, errType string }

func (r record) String() string {
	route := fmt.Sprintf("%.100q", r.route)
	if len(r.route) > 100 {
		route += fmt.Sprintf("... (%d bytes)", len(r.route))
	}
	return fmt.Sprintf("route=%s status=%s error_type=%q", route, r.status, r.errType)
}

// accessLine returns the one access line, failing unless there is exactly
// one.
func (s *stack) accessLine(t *testing.T) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, l := range s.logs.JSON(t) {
		if l["msg"] == "request" {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d access lines, want 1; the log:\n%s", len(found), s.logs)
	}
	return found[0]
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// sample returns the labels of the one request counted in
// http_requests_total, failing unless exactly one was; and checks that
// every other series with a route label has the same route.
func (s *stack) sample(t *testing.T) map[string]string {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var counted []map[string]string
	routes := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if r, ok := l["route"]; ok {
				routes[mf.GetName()+" "+r] = true
			}
			if mf.GetName() != "http_requests_total" {
				continue
			}
			for range int(m.GetCounter().GetValue()) {
				counted = append(counted, l)
			}
		}
	}
	if len(counted) != 1 {
		t.Fatalf("http_requests_total counted %d requests, want 1: %v", len(counted), counted)
	}
	for nr := range routes {
		if name, r, _ := strings.Cut(nr, " "); r != counted[0]["route"] {
			t.Errorf("%s has route %q, http_requests_total %q", name, r, counted[0]["route"])
		}
	}
	return counted[0]
}

// span returns the one span ended, failing unless there is exactly one.
func (s *stack) span(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := s.spans.Ended()
	if len(spans) != 1 {
		names := make([]string, len(spans))
		for i, sp := range spans {
			names[i] = sp.Name()
		}
		t.Fatalf("%d spans ended, want 1: %v", len(spans), names)
	}
	return spans[0]
}

func attrs(sp sdktrace.ReadOnlySpan) map[string]string {
	at := map[string]string{}
	for _, kv := range sp.Attributes() {
		at[string(kv.Key)] = kv.Value.String()
	}
	return at
}

// layers returns what the access line, the metric and the span recorded,
// and checks what ties them together: the span name and http.route
// follow the route, the access line carries the span's IDs.
func (s *stack) layers(t *testing.T, method string) (line map[string]any, recs map[string]record, sp sdktrace.ReadOnlySpan) {
	t.Helper()
	line = s.accessLine(t)
	m := s.sample(t)
	sp = s.span(t)
	at := attrs(sp)
	spanRoute, hasRoute := at["http.route"]
	if !hasRoute {
		spanRoute = Unmatched
	}
	recs = map[string]record{
		"access line": {str(line["route"]), str(line["status"]), str(line["error_type"])},
		"metric":      {m["route"], m["code"], m["error_type"]},
		"span":        {spanRoute, at["http.response.status_code"], at["error.type"]},
	}
	if hasRoute && spanRoute == Unmatched {
		t.Errorf(`span has http.route "unmatched": an unmatched request has no http.route`)
	}
	wantName := method + " " + spanRoute
	if !hasRoute {
		wantName = method
	}
	if sp.Name() != wantName {
		t.Errorf("span name %q, want %q", sp.Name(), wantName)
	}
	if m["method"] != method || str(line["method"]) != method {
		t.Errorf("method: metric %q, access line %q, want %q", m["method"], line["method"], method)
	}
	sc := sp.SpanContext()
	if str(line["trace_id"]) != sc.TraceID().String() || str(line["span_id"]) != sc.SpanID().String() {
		t.Errorf("access line has trace %v span %v, the span is %s/%s", line["trace_id"], line["span_id"], sc.TraceID(), sc.SpanID())
	}
	return line, recs, sp
}

// A Case is one request and everything the three layers and the client
// must see for it.
type Case struct {
	Name       string
	Method     string
	Path       string
	Authorized bool // sends the credentials the user's auth middleware wants

	// What the client gets: Status 0 means the connection is cut before
	// the response is complete.
	Status int
	Body   string // the exact body, when not empty
	// PanicBody: the body is the small JSON answer to a panic, with the
	// request's correlation ID.
	PanicBody bool

	// What every layer records.
	Route   string // the route template, or Unmatched
	Code    int    // the status recorded: the one sent, 500 when none was
	ErrType string // error_type / error.type; "" for a success
	Level   string // the access line's level
	Stack   string // the frame the access line's one stack must show; "" for no stack
	SpanErr bool   // the span's status is Error (else Unset)
}

// Cases are the requests every router must get right.
var Cases = []Case{
	{Name: "2xx route", Method: "GET", Path: "/items/7", Authorized: true,
		Status: 200, Body: "item", Route: "/items/{id}", Code: 200, Level: "info"},
	{Name: "4xx written by the handler keeps the route", Method: "GET", Path: "/missing/7", Authorized: true,
		Status: 404, Body: "no such item\n", Route: "/missing/{id}", Code: 404, Level: "info"},
	{Name: "panic before writing", Method: "GET", Path: "/panic/7", Authorized: true,
		Status: 500, PanicBody: true, Route: "/panic/{id}", Code: 500, ErrType: "panic", Level: "error",
		Stack: framePanic, SpanErr: true},
	{Name: "panic after the response began", Method: "GET", Path: "/late/7", Authorized: true,
		Status: 0, Route: "/late/{id}", Code: 200, ErrType: "panic", Level: "error",
		Stack: framePanicLate, SpanErr: true},
	{Name: "http.ErrAbortHandler", Method: "GET", Path: "/abort/7", Authorized: true,
		Status: 0, Route: "/abort/{id}", Code: 500, ErrType: "aborted", Level: "warn", SpanErr: true},
	{Name: "mounted subrouter", Method: "GET", Path: "/api/v1/things/7", Authorized: true,
		Status: 200, Body: "thing", Route: "/api/v1/things/{id}", Code: 200, Level: "info"},
	{Name: "panic in the mounted subrouter", Method: "GET", Path: "/api/v1/boom/7", Authorized: true,
		Status: 500, PanicBody: true, Route: "/api/v1/boom/{id}", Code: 500, ErrType: "panic", Level: "error",
		Stack: framePanic, SpanErr: true},
	{Name: "not found", Method: "GET", Path: "/nope/7", Authorized: true,
		Status: 404, Route: Unmatched, Code: 404, Level: "info"},
	{Name: "not found in the mounted group", Method: "GET", Path: "/api/v1/nope/7", Authorized: true,
		Status: 404, Route: Unmatched, Code: 404, Level: "info"},
	{Name: "method not allowed", Method: "POST", Path: "/items/7", Authorized: true,
		Status: 405, Route: Unmatched, Code: 405, Level: "info"},
	{Name: "method not allowed in the mounted group", Method: "POST", Path: "/api/v1/things/7", Authorized: true,
		Status: 405, Route: Unmatched, Code: 405, Level: "info"},
	{Name: "refused above the router", Method: "GET", Path: "/items/7", Authorized: false,
		Status: 401, Body: "unauthorized\n", Route: Unmatched, Code: 401, Level: "info"},
}

// Run serves every case of Cases, and RouteFuncCases when the router has
// WithRouteFunc, each on a fresh stack and server.
func Run(t *testing.T, r Router) {
	t.Helper()
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) { runCase(t, r.New(handlers), c) })
	}
	if r.WithRouteFunc == nil {
		return
	}
	for _, c := range RouteFuncCases {
		t.Run("route function "+c.Name, func(t *testing.T) { runRouteFunc(t, r, c) })
	}
}

func runCase(t *testing.T, router http.Handler, c Case) {
	s := newStack(t, router)
	res := s.do(t, c.Method, c.Path, c.Authorized)

	// The client.
	switch {
	case c.Status == 0 && res.err == nil:
		t.Errorf("the client got a complete response (%d %q), want the connection cut", res.status, res.body)
	case c.Status != 0 && res.err != nil:
		t.Errorf("the client got an error, want %d: %v", c.Status, res.err)
	case c.Status != 0 && res.status != c.Status:
		t.Errorf("the client got %d %q, want %d", res.status, res.body, c.Status)
	case c.Body != "" && string(res.body) != c.Body:
		t.Errorf("the client got the body %q, want %q", res.body, c.Body)
	}

	line, recs, sp := s.layers(t, c.Method)
	want := record{c.Route, fmt.Sprint(c.Code), c.ErrType}
	for _, layer := range []string{"access line", "metric", "span"} {
		if recs[layer] != want {
			t.Errorf("%s recorded %v, want %v", layer, recs[layer], want)
		}
	}

	// The access line, and nothing else in the log: no route warning for
	// a router set up as documented, no second line for a panic.
	if str(line["level"]) != c.Level {
		t.Errorf("access line level %v, want %s", line["level"], c.Level)
	}
	if n := len(s.logs.Lines()); n != 1 {
		t.Errorf("%d log lines, want only the access line:\n%s", n, s.logs)
	}
	id := str(line["correlation_id"])
	if id == "" {
		t.Error("the access line has no correlation_id")
	}
	if res.err == nil && res.header.Get("X-Correlation-Id") != id {
		t.Errorf("the response's X-Correlation-Id %q, the access line's %q", res.header.Get("X-Correlation-Id"), id)
	}
	if c.PanicBody {
		checkPanicBody(t, res, id)
	}

	// The stack: once, in the access line, as JSON; never net/http's
	// plain-text dump, which would be a second copy on stderr.
	stack, hasStack := line["stacktrace"].(string)
	switch {
	case c.Stack == "" && hasStack:
		t.Errorf("the access line has a stack, want none:\n%s", stack)
	case c.Stack != "" && !strings.Contains(stack, c.Stack):
		t.Errorf("the access line's stack does not show %s:\n%s", c.Stack, stack)
	case c.Stack != "":
		if n := strings.Count(s.logs.String()+s.errLog.String(), c.Stack); n != 1 {
			t.Errorf("the stack was written %d times, want once; log:\n%s\nnet/http:\n%s", n, s.logs, s.errLog)
		}
	}
	if out := s.errLog.String(); out != "" {
		t.Errorf("net/http logged (a plain-text line the service's log pipeline cannot read):\n%s", out)
	}

	// The span's status: Error for a panic or an abort, Unset otherwise
	// (a 4xx is the client's mistake, not the server span's error).
	wantStatus := codes.Unset
	if c.SpanErr {
		wantStatus = codes.Error
	}
	if sp.Status().Code != wantStatus {
		t.Errorf("span status %v, want %v", sp.Status(), wantStatus)
	}
}

// checkPanicBody checks the answer to a handler that panicked before
// writing: JSON with the error and the request's correlation ID.
func checkPanicBody(t *testing.T, res response, id string) {
	t.Helper()
	if res.err != nil {
		return // reported already
	}
	if mt, _, err := mime.ParseMediaType(res.header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("the panic's answer has Content-Type %q, want application/json", res.header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Errorf("the panic's answer is not JSON: %q", res.body)
		return
	}
	want := map[string]any{"error": "internal server error", "correlation_id": id}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("the panic's answer is %s, want %v", res.body, want)
	}
}

// A RouteFuncCase is a route function that misbehaves: the request must
// still get its answer, and the route recorded must be bounded and never
// the raw path.
type RouteFuncCase struct {
	Name string
	Fn   func(*http.Request) string
	// Route is the route every layer must record; "" to accept any route
	// within the bounds.
	Route string
}

// RouteFuncCases are the route functions RouteFuncCases runs on GET
// /items/7.
var RouteFuncCases = []RouteFuncCase{
	{Name: "panics", Fn: func(*http.Request) string { panic("routertest: the route function broke") }},
	{Name: "returns 10 KB", Fn: func(*http.Request) string { return "/" + strings.Repeat("x", 10<<10) }},
	{Name: "returns an odd string", Fn: func(*http.Request) string { return "/items/\xff\xfe\x00\n\"{id}" }},
	{Name: "returns nothing", Fn: func(*http.Request) string { return "" }, Route: Unmatched},
}

func runRouteFunc(t *testing.T, r Router, c RouteFuncCase) {
	const path = "/items/7"
	s := newStack(t, r.WithRouteFunc(c.Fn, handlers))
	res := s.do(t, "GET", path, true)
	if res.err != nil || res.status != 200 || string(res.body) != "item" {
		t.Errorf("the client got %d %q, %v; want 200 \"item\"", res.status, res.body, res.err)
	}
	_, recs, _ := s.layers(t, "GET")
	route := recs["access line"].route
	for _, layer := range []string{"metric", "span"} {
		if recs[layer] != recs["access line"] {
			t.Errorf("%s recorded %v, the access line %v", layer, recs[layer], recs["access line"])
		}
	}
	if want := (record{route, "200", ""}); recs["access line"] != want {
		t.Errorf("recorded %v, want status 200 and no error type: the route function is not the request", recs["access line"])
	}
	switch {
	case c.Route != "" && route != c.Route:
		t.Errorf("route %.80q, want %q", route, c.Route)
	case route == path:
		t.Errorf("route is the raw path %q", route)
	case len(route) > MaxRouteBytes:
		t.Errorf("route of %d bytes, want at most %d: %.80q...", len(route), MaxRouteBytes, route)
	case !utf8.ValidString(route):
		t.Errorf("route %q is not valid UTF-8 (a Prometheus label value must be)", route)
	}
	if out := s.errLog.String(); out != "" {
		t.Errorf("net/http logged:\n%s", out)
	}
}
