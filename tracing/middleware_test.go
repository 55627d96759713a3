package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/prodready/prodready/internal/request"
	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/tracing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// recorder returns a provider whose ended spans the returned recorder keeps.
func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	return tp, sr
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "user") })
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	return mux
}

func TestMiddlewareSpans(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		wantName                   string
		wantStatus                 codes.Code
		wantAttrs                  map[string]string // must be present with these values
		wantAbsent                 []string
		wantEvents                 []string
	}{
		{
			name: "matched route", method: "GET", target: "/users/42", wantName: "GET /users/{id}", wantStatus: codes.Unset,
			wantAttrs: map[string]string{
				"http.request.method": "GET", "http.route": "/users/{id}", "http.response.status_code": "200",
				"url.path": "/users/42", "url.scheme": "http", "server.address": "example.com",
				"user_agent.original": "test-agent", "network.protocol.version": "1.1", "http.response.body.size": "4",
				"client.address": "192.0.2.1", "network.peer.address": "192.0.2.1", "network.peer.port": "1234",
			},
			wantAbsent: []string{"error.type", "server.port"},
		},
		{
			name: "post with body", method: "POST", target: "/users", body: `{"n":1}`, wantName: "POST /users", wantStatus: codes.Unset,
			wantAttrs: map[string]string{"http.request.body.size": "7", "http.response.status_code": "201"},
		},
		{
			name: "unmatched", method: "GET", target: "/nowhere", wantName: "GET", wantStatus: codes.Unset,
			wantAttrs:  map[string]string{"http.response.status_code": "404"},
			wantAbsent: []string{"http.route", "error.type"},
		},
		{
			name: "5xx", method: "GET", target: "/fail", wantName: "GET /fail", wantStatus: codes.Error,
			wantAttrs: map[string]string{"http.response.status_code": "503", "error.type": "503"},
		},
		{
			name: "unknown method", method: "PURGE", target: "/fail", wantName: "HTTP /fail", wantStatus: codes.Error,
			wantAttrs: map[string]string{"http.request.method": "_OTHER", "http.request.method_original": "PURGE"},
		},
		{
			name: "panic", method: "GET", target: "/panic", wantName: "GET /panic", wantStatus: codes.Error,
			wantAttrs:  map[string]string{"error.type": "panic", "http.response.status_code": "500"},
			wantEvents: []string{"exception"},
		},
		{
			// The client gets a cut response: a failure, but not a crash.
			name: "abort handler", method: "GET", target: "/abort", wantName: "GET /abort", wantStatus: codes.Error,
			wantAttrs: map[string]string{"error.type": "aborted", "http.response.status_code": "500"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, sr := recorder(t)
			h := tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(w3c))(testMux())
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			req.RemoteAddr = "192.0.2.1:1234"
			req.Header.Set("User-Agent", "test-agent")
			serveRecovering(h, req)

			spans := sr.Ended()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name() != tt.wantName || s.SpanKind() != trace.SpanKindServer || s.Status().Code != tt.wantStatus {
				t.Errorf("span = %q %v %v, want %q server %v", s.Name(), s.SpanKind(), s.Status().Code, tt.wantName, tt.wantStatus)
			}
			got := attrs(s)
			for k, v := range tt.wantAttrs {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			for _, k := range tt.wantAbsent {
				if _, ok := got[k]; ok {
					t.Errorf("%s present (%q), want absent", k, got[k])
				}
			}
			var events []string
			for _, e := range s.Events() {
				events = append(events, e.Name)
			}
			if !slices.Equal(events, tt.wantEvents) {
				t.Errorf("events = %v, want %v", events, tt.wantEvents)
			}
		})
	}
}

// serveRecovering serves req and swallows the handler's panic, as
// net/http does, after checking that the panic reached this far.
func serveRecovering(h http.Handler, req *http.Request) (panicked any) {
	defer func() { panicked = recover() }()
	h.ServeHTTP(httptest.NewRecorder(), req)
	return nil
}

// TestMiddlewareScope: server spans name their instrumentation scope with
// the version of this module the binary was built with ("(devel)" in its
// own tests), so a backend can tell which instrumentation made them.
func TestMiddlewareScope(t *testing.T) {
	tp, sr := recorder(t)
	srv := httptest.NewServer(tracing.Middleware(tracing.TracerProvider(tp))(testMux()))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/users/1")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	bi, _ := debug.ReadBuildInfo()
	want := bi.Main.Version // the module under test is the main one
	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	if sc := spans[0].InstrumentationScope(); sc.Name != tracing.ScopeName || sc.Version != want || want == "" || sc.SchemaURL == "" {
		t.Errorf("scope %+v, want %s version %q with a schema URL", sc, tracing.ScopeName, want)
	}
}

// TestMiddlewareAnswersPanic: a panic before anything was written is
// answered with a 500 and goes no further; http.ErrAbortHandler goes on, so
// that net/http aborts the connection.
func TestMiddlewareAnswersPanic(t *testing.T) {
	tp, _ := recorder(t)
	h := tracing.Middleware(tracing.TracerProvider(tp))(testMux())
	rec := httptest.NewRecorder()
	var v any
	func() {
		defer func() { v = recover() }()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
	}()
	if v != nil || rec.Code != http.StatusInternalServerError || rec.Body.String() != `{"error":"internal server error"}`+"\n" {
		t.Errorf("recovered %v, answered %d %q; want nothing recovered and a JSON 500", v, rec.Code, rec.Body)
	}
	if v := serveRecovering(h, httptest.NewRequest("GET", "/abort", nil)); v != http.ErrAbortHandler { //nolint:errorlint // the value itself
		t.Errorf("recovered %v from an aborting handler, want http.ErrAbortHandler", v)
	}
}

func TestMiddlewareTraceContext(t *testing.T) {
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	traceparent := "00-" + remote.TraceID().String() + "-" + remote.SpanID().String() + "-01"
	tests := []struct {
		name       string
		public     bool
		wantParent trace.SpanID
		wantLinks  int
		sameTrace  bool
	}{
		{"honoured", false, remote.SpanID(), 0, true},
		{"public endpoint starts a new trace with a link", true, trace.SpanID{}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, sr := recorder(t)
			var inHandler string
			h := tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(w3c), tracing.PublicEndpoint(tt.public))(
				http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { inHandler = tracing.TraceID(r.Context()) }))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("traceparent", traceparent)
			h.ServeHTTP(httptest.NewRecorder(), req)

			s := sr.Ended()[0]
			if got := s.Parent().SpanID(); got != tt.wantParent {
				t.Errorf("parent = %v, want %v", got, tt.wantParent)
			}
			if got := s.SpanContext().TraceID() == remote.TraceID(); got != tt.sameTrace {
				t.Errorf("same trace as caller = %v, want %v", got, tt.sameTrace)
			}
			if len(s.Links()) != tt.wantLinks {
				t.Errorf("links = %v, want %d", s.Links(), tt.wantLinks)
			}
			if inHandler != s.SpanContext().TraceID().String() {
				t.Errorf("TraceID in handler = %q, want the span's %s", inHandler, s.SpanContext().TraceID())
			}
		})
	}
}

func TestMiddlewareSkipPaths(t *testing.T) {
	tp, sr := recorder(t)
	h := tracing.Middleware(tracing.TracerProvider(tp), tracing.SkipPaths("/livez", "/metrics"))(testMux())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/livez", nil))
	if rec.Body.String() != "ok" {
		t.Errorf("skipped handler did not run: %q", rec.Body.String())
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/1", nil))
	var names []string
	for _, s := range sr.Ended() {
		names = append(names, s.Name())
	}
	if !slices.Equal(names, []string{"GET /users/{id}"}) {
		t.Errorf("spans = %v, want only the /users/1 one", names)
	}
}

// TestMiddlewareReadsSharedRoute has a user middleware copy the request
// between ours and an inner layer that records the route in the shared
// request state (as prodready's metrics or logging middleware does when it
// is innermost): the span name still carries the route.
func TestMiddlewareReadsSharedRoute(t *testing.T) {
	tp, sr := recorder(t)
	mux := testMux()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		request.From(r.Context()).CaptureRoute(r)
	})
	copying := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(r.Context()))
	})
	tracing.Middleware(tracing.TracerProvider(tp))(copying).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/7", nil))
	s := sr.Ended()[0]
	if s.Name() != "GET /users/{id}" || attrs(s)["http.route"] != "/users/{id}" {
		t.Errorf("name = %q, http.route = %q, want the route /users/{id}", s.Name(), attrs(s)["http.route"])
	}
}

func TestMiddlewareKeepsWriterInterfaces(t *testing.T) {
	tp, _ := recorder(t)
	var flusher, hijacker bool
	h := tracing.Middleware(tracing.TracerProvider(tp))(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, flusher = w.(http.Flusher)
		_, hijacker = w.(http.Hijacker)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !flusher || hijacker {
		t.Errorf("Flusher %v Hijacker %v, want true false as for httptest.ResponseRecorder", flusher, hijacker)
	}
}

func mustTraceState(t *testing.T, s string) trace.TraceState {
	t.Helper()
	ts, err := trace.ParseTraceState(s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func withBaggage(t *testing.T, ctx context.Context, k, v string) context.Context {
	t.Helper()
	m, err := baggage.NewMember(k, v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := baggage.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return baggage.ContextWithBaggage(ctx, b)
}

// TestMiddlewareAllocsNearFloor holds the middleware to the SDK's own
// floor (start, hand over, set the same attributes, end). Sampled or not,
// it may add the one allocation of the request state shared with logging
// and metrics (which then create none): building the attributes and
// naming the span allocate nothing.
func TestMiddlewareAllocsNearFloor(t *testing.T) {
	tests := []struct {
		name    string
		sampler sdktrace.Sampler
		extra   float64
	}{
		{"sampled", sdktrace.AlwaysSample(), 1},
		{"unsampled", sdktrace.NeverSample(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(tt.sampler), sdktrace.WithSpanProcessor(discardProcessor{}))
			t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
			req := benchRequest()
			w := &discardWriter{h: http.Header{}}
			ours := tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(w3c))(benchMux())
			floor := sdkFloor{tr: tp.Tracer("floor"), attrs: ourAttrs(t, benchMux()), next: benchMux()}
			if got := testenv.ExtraAllocs(200, func() { ours.ServeHTTP(w, req) }, func() { floor.ServeHTTP(w, req) }); got > tt.extra {
				t.Errorf("middleware allocates %v per request beyond the SDK floor: want at most %v", got, tt.extra)
			}
		})
	}
}

// TestMiddlewareUnsampled: a request whose caller did not sample it gets
// no span recorded, yet its handler sees the caller's trace; the layer
// still creates the request state the layers inside share (one request
// copy for the span's context and the state together), and so answers a
// panic as a sampled request's is answered: 500, nothing further up.
func TestMiddlewareUnsampled(t *testing.T) {
	tests := []struct {
		name, target string
		wantCode     int
	}{
		{"served", "/users/7", http.StatusOK},
		{"panic", "/panic", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, sr := recorder(t)
			mux := testMux()
			var seen trace.SpanContext
			var state *request.State
			h := tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(w3c), tracing.Logger(slog.New(slog.DiscardHandler)))(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					seen = trace.SpanContextFromContext(r.Context())
					state = request.From(r.Context())
					mux.ServeHTTP(w, r)
				}))
			req := httptest.NewRequest("GET", tt.target, nil)
			req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req) // a panic passing by fails the test
			if rec.Code != tt.wantCode {
				t.Errorf("status %d, want %d", rec.Code, tt.wantCode)
			}
			if n := len(sr.Ended()); n != 0 {
				t.Errorf("%d spans recorded for an unsampled request, want 0", n)
			}
			if got := seen.TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" || seen.IsSampled() {
				t.Errorf("handler saw trace %s sampled=%v, want the caller's, unsampled", got, seen.IsSampled())
			}
			if state == nil {
				t.Error("unsampled request carries no request state for the layers inside to join")
			}
		})
	}
}

// TestPublicEndpointAllocs: a public endpoint's request without a caller's
// traceparent, the usual case on the internet, costs a private one's plus
// the two allocations the SDK makes itself for trace.WithNewRoot (a context
// holding the empty parent), and nothing of ours.
func TestPublicEndpointAllocs(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discardProcessor{}))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	req := benchRequest()
	w := &discardWriter{h: http.Header{}}
	handler := map[bool]http.Handler{}
	for _, public := range []bool{false, true} {
		handler[public] = tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(w3c), tracing.PublicEndpoint(public))(benchMux())
	}
	// The private endpoint is the floor.
	if got := testenv.ExtraAllocs(200, func() { handler[true].ServeHTTP(w, req) }, func() { handler[false].ServeHTTP(w, req) }); got > 2 {
		t.Errorf("public endpoint allocates %v per request more than a private one: want at most 2", got)
	}
}
