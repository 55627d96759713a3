package request_test

// The real middlewares that share this package's state, stacked in every
// order with a user middleware that calls r.WithContext between each pair:
// what each records must not depend on the order.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/prodready/prodready"
	"github.com/prodready/prodready/internal/request"
	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/tracing"
)

type userKey struct{}

// withValue hides r.Pattern from every layer outside it, as an auth or
// tenant middleware does.
func withValue(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, 1)))
	})
}

// stack is the three middlewares on fresh sinks.
type stack struct {
	logs  *testenv.LogBuffer
	spans *tracetest.SpanRecorder
	reg   *prometheus.Registry
	mw    map[string]func(http.Handler) http.Handler
}

func newStack(t *testing.T) *stack {
	return newStackWith(t, sdktrace.AlwaysSample())
}

// newStackWith is newStack with the tracer provider's sampler and options
// for the logging middleware.
func newStackWith(t *testing.T, sampler sdktrace.Sampler, opts ...logging.Option) *stack {
	t.Helper()
	s := &stack{logs: &testenv.LogBuffer{}, spans: tracetest.NewSpanRecorder(), reg: prometheus.NewRegistry()}
	l, _, err := logging.New(logging.Config{Output: s.logs, Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m, err := metrics.Middleware(s.reg)
	if err != nil {
		t.Fatal(err)
	}
	s.mw = map[string]func(http.Handler) http.Handler{
		"logging": logging.Middleware(l, opts...),
		"metrics": m,
		"tracing": tracing.Middleware(tracing.TracerProvider(tp), tracing.Propagator(propagation.TraceContext{})),
	}
	return s
}

// chain wraps the mux h in the named middlewares, the first outermost, with
// a user middleware outside each. The innermost is right around the mux:
// a request copy made in between would carry the pattern past all of ours.
func (s *stack) chain(order []string, h http.Handler) http.Handler {
	for i := len(order) - 1; i >= 0; i-- {
		h = withValue(s.mw[order[i]](h))
	}
	return h
}

// standard is the README's order, tracing(logging(metrics(h))).
func (s *stack) standard(h http.Handler) http.Handler {
	return s.mw["tracing"](s.mw["logging"](s.mw["metrics"](h)))
}

// record is what one layer recorded about a request.
type record struct{ route, status, errType string }

// ok is the record of a request that succeeded.
func ok(route string, status int) record { return record{route, fmt.Sprint(status), ""} }

// accessLines returns the access lines written so far.
func (s *stack) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range s.logs.JSON(t) {
		if l["msg"] == "request" {
			out = append(out, l)
		}
	}
	return out
}

// agree asserts that the access line, the metric sample and, unless
// unsampled, the span each recorded one request, all as want.
func (s *stack) agree(t *testing.T, want record, sampled bool) {
	t.Helper()
	lines := s.accessLines(t)
	if len(lines) != 1 {
		t.Fatalf("%d access lines, want 1:\n%s", len(lines), s.logs.String())
	}
	a := lines[0]
	str := func(v any) string {
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	got := map[string]record{"access line": {str(a["route"]), str(a["status"]), str(a["error_type"])}}

	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var samples []record
	for _, mf := range mfs {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			for range int(m.GetCounter().GetValue()) {
				samples = append(samples, record{l["route"], l["code"], l["error_type"]})
			}
		}
	}
	if len(samples) != 1 {
		t.Fatalf("%d requests counted, want 1: %v", len(samples), samples)
	}
	got["metric"] = samples[0]

	spans := s.spans.Ended()
	switch {
	case !sampled && len(spans) != 0:
		t.Fatalf("%d spans recorded, want none", len(spans))
	case sampled && len(spans) != 1:
		t.Fatalf("%d spans, want 1", len(spans))
	case sampled:
		sp := spans[0]
		at := map[string]string{}
		for _, kv := range sp.Attributes() {
			at[string(kv.Key)] = kv.Value.String()
		}
		route := at["http.route"]
		if route == "" {
			route = request.Unmatched
		}
		if _, name, _ := strings.Cut(sp.Name(), " "); route != request.Unmatched && name != route {
			t.Errorf("span name %q, want METHOD %s", sp.Name(), route)
		}
		got["span"] = record{route, at["http.response.status_code"], at["error.type"]}
		if want.errType != "" && sp.Status().Code != codes.Error {
			t.Errorf("span status %v for a failed request, want Error", sp.Status())
		}
		// Logging outside tracing sees the span only when the handler logs.
		if ids := [2]any{a["trace_id"], a["span_id"]}; ids != [2]any{nil, nil} &&
			ids != [2]any{sp.SpanContext().TraceID().String(), sp.SpanContext().SpanID().String()} {
			t.Errorf("access line has trace and span %v, the span is %v", ids, sp.SpanContext())
		}
	}
	for layer, r := range got {
		if r != want {
			t.Errorf("%s recorded %+v, want %+v", layer, r, want)
		}
	}
}

// check asserts that each layer recorded the one request once, with the
// same route, status and IDs, at the given level.
func (s *stack) check(t *testing.T, want record, bytes float64, level string) {
	t.Helper()
	s.agree(t, want, true)
	var handlerLine map[string]any
	for _, l := range s.logs.JSON(t) {
		if l["msg"] == "handler" {
			handlerLine = l
		}
	}
	a := s.accessLines(t)[0]
	if fmt.Sprint(a["bytes"]) != fmt.Sprint(bytes) || a["level"] != level {
		t.Errorf("access line bytes %v level %v, want %v %v", a["bytes"], a["level"], bytes, level)
	}
	if id, _ := a["correlation_id"].(string); id == "" || handlerLine == nil || handlerLine["correlation_id"] != id {
		t.Errorf("correlation_id: access line %v, handler line %v", a["correlation_id"], handlerLine)
	}
	if handlerLine != nil && handlerLine["trace_id"] != a["trace_id"] {
		t.Errorf("handler line trace_id %v, want %v", handlerLine["trace_id"], a["trace_id"])
	}
}

var orders = [][]string{
	{"tracing", "logging", "metrics"},
	{"tracing", "metrics", "logging"},
	{"logging", "tracing", "metrics"},
	{"logging", "metrics", "tracing"},
	{"metrics", "tracing", "logging"},
	{"metrics", "logging", "tracing"},
}

func TestStackInEveryOrder(t *testing.T) {
	for _, order := range orders {
		t.Run(strings.Join(order, ">"), func(t *testing.T) {
			s := newStack(t)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
				logging.FromContext(r.Context()).Info("handler")
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, "hello")
			})
			rec := httptest.NewRecorder()
			s.chain(order, mux).ServeHTTP(rec, httptest.NewRequest("GET", "/items/7", nil))
			if rec.Code != http.StatusCreated || rec.Header().Get("X-Correlation-Id") == "" {
				t.Fatalf("response %d, correlation header %q", rec.Code, rec.Header().Get("X-Correlation-Id"))
			}
			s.check(t, ok("/items/{id}", 201), 5, "info")
		})
	}
}

// TestStackUnsampled runs the stack with a tracer that records nothing:
// tracing then joins the request state without creating it, and the route
// must still reach every layer, whatever the order, also on a panic.
func TestStackUnsampled(t *testing.T) {
	for _, panics := range []bool{false, true} {
		for _, order := range orders {
			t.Run(fmt.Sprintf("panic=%v/%s", panics, strings.Join(order, ">")), func(t *testing.T) {
				s := newStackWith(t, sdktrace.NeverSample())
				mux := http.NewServeMux()
				mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
					if panics {
						panic("boom")
					}
					w.WriteHeader(http.StatusAccepted)
				})
				func() {
					defer func() { _ = recover() }()
					s.chain(order, mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/7", nil))
				}()
				want := ok("/items/{id}", 202)
				if panics {
					want = record{"/items/{id}", "500", request.FailPanic}
				}
				s.agree(t, want, false)
			})
		}
	}
}

// TestStackPanics checks that a panic is answered and recorded once by
// every layer, whatever the order: before anything was written it ends in
// a 500 with a JSON body carrying the correlation ID and goes no further;
// http.ErrAbortHandler, and a panic after the response began, reach
// whatever is above the stack as http.ErrAbortHandler, so net/http aborts
// the connection quietly.
func TestStackPanics(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		value     any
		write     bool // the handler writes its status first
		errType   string
		status    string
		level     string
		reraised  any
		answer500 bool
	}{
		{"panic", boom, false, request.FailPanic, "500", "error", nil, true},
		{"panic after writing", boom, true, request.FailPanic, "202", "error", http.ErrAbortHandler, false},
		{"abort handler", http.ErrAbortHandler, false, request.FailAborted, "500", "warn", http.ErrAbortHandler, false},
	}
	for _, tt := range tests {
		for _, order := range orders {
			t.Run(tt.name+"/"+strings.Join(order, ">"), func(t *testing.T) {
				s := newStack(t)
				mux := http.NewServeMux()
				mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
					logging.FromContext(r.Context()).Info("handler")
					if tt.write {
						w.WriteHeader(http.StatusAccepted)
					}
					panic(tt.value)
				})
				h := s.chain(order, mux)
				var got any
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", "/items/7", nil)
				req.Header.Set("X-Correlation-ID", "corr-1")
				func() {
					defer func() { got = recover() }()
					h.ServeHTTP(rec, req)
				}()
				if got != tt.reraised {
					t.Fatalf("above the stack recovered %v, want %v", got, tt.reraised)
				}
				if tt.answer500 {
					if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/json" ||
						rec.Body.String() != `{"error":"internal server error","correlation_id":"corr-1"}`+"\n" {
						t.Errorf("answer %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
					}
				} else if rec.Body.Len() != 0 {
					t.Errorf("answered %q to a request that is to be aborted", rec.Body)
				}
				s.check(t, record{"/items/{id}", tt.status, tt.errType}, float64(rec.Body.Len()), tt.level)
			})
		}
	}
}

// TestStackHTTP2 runs the stack on a real HTTP/2 server: the handler sees
// a Pusher and a Flusher and no Hijacker, exactly as without the stack.
func TestStackHTTP2(t *testing.T) {
	for _, order := range orders {
		t.Run(strings.Join(order, ">"), func(t *testing.T) {
			s := newStack(t)
			mux := http.NewServeMux()
			ifaces := make(chan string, 1)
			mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
				logging.FromContext(r.Context()).Info("handler")
				_, push := w.(http.Pusher)
				_, hijack := w.(http.Hijacker)
				_, flush := w.(http.Flusher)
				ifaces <- fmt.Sprintf("push=%v hijack=%v flush=%v proto=%s", push, hijack, flush, r.Proto)
				_, _ = io.WriteString(w, "part1")
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
				_, _ = io.WriteString(w, "part2")
			})
			srv := httptest.NewUnstartedServer(s.chain(order, mux))
			srv.EnableHTTP2 = true
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			defer srv.Close()
			res, err := srv.Client().Get(srv.URL + "/items/7")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.ProtoMajor != 2 || string(body) != "part1part2" {
				t.Fatalf("proto %s body %q", res.Proto, body)
			}
			// The stream ends when the outermost layer returns, so every
			// layer has recorded the request by now.
			if got := <-ifaces; got != "push=true hijack=false flush=true proto=HTTP/2.0" {
				t.Errorf("handler saw %s", got)
			}
			s.check(t, ok("/items/{id}", 200), 10, "info")
		})
	}
}

// TestStackPanicAnswered checks, on a real server, that a panic before
// anything was written is answered with a 500 and its correlation ID, that
// net/http logs nothing (no plain-text stack dump), and that the stack of
// the handler that panicked is in the access line, once.
func TestStackPanicAnswered(t *testing.T) {
	for _, order := range orders {
		t.Run(strings.Join(order, ">"), func(t *testing.T) {
			s := newStack(t)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /items/{id}", func(_ http.ResponseWriter, r *http.Request) {
				logging.FromContext(r.Context()).Info("handler")
				panicDeepInHandler()
			})
			var errLog testenv.LogBuffer
			srv := httptest.NewUnstartedServer(s.chain(order, mux))
			srv.Config.ErrorLog = log.New(&errLog, "", 0)
			srv.Start()
			res, err := srv.Client().Get(srv.URL + "/items/7")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			srv.Close()
			id := res.Header.Get("X-Correlation-Id")
			if res.StatusCode != 500 || id == "" || !strings.Contains(string(body), `"correlation_id":"`+id+`"`) {
				t.Errorf("answer %d %q (correlation ID %q)", res.StatusCode, body, id)
			}
			if out := errLog.String(); out != "" {
				t.Errorf("net/http logged:\n%s", out)
			}
			lines := s.accessLines(t)
			if len(lines) != 1 {
				t.Fatalf("%d access lines", len(lines))
			}
			stack, _ := lines[0]["stacktrace"].(string)
			if lines[0]["panic"] != "deep in the handler" || !strings.Contains(stack, "request_test.panicDeepInHandler(") {
				t.Errorf("access line lacks the value or the handler's frame: %v", lines[0])
			}
			if n := strings.Count(s.logs.String(), "panicDeepInHandler"); n != 1 {
				t.Errorf("the stack was logged %d times, want once:\n%s", n, s.logs)
			}
			s.check(t, record{"/items/{id}", "500", request.FailPanic}, float64(len(body)), "error")
		})
	}
}

func panicDeepInHandler() { panic("deep in the handler") }

// TestStackEveryOrderRealServer serves every order of the three layers,
// sampled and unsampled, through a real server with a user middleware
// that calls r.WithContext outside each layer; and with one more between
// the innermost layer and the mux, then wrapped in prodready.Routes. Every
// layer records the route each time.
func TestStackEveryOrderRealServer(t *testing.T) {
	samplers := map[string]sdktrace.Sampler{"sampled": sdktrace.AlwaysSample(), "unsampled": sdktrace.NeverSample()}
	muxes := map[string]func() http.Handler{
		"mux right beneath": func() http.Handler { return itemsMux() },
		"user middleware, then Routes(mux)": func() http.Handler {
			return withValue(prodready.Routes(itemsMux()))
		},
	}
	for sname, sampler := range samplers {
		for mname, mux := range muxes {
			for _, order := range orders {
				t.Run(sname+"/"+mname+"/"+strings.Join(order, ">"), func(t *testing.T) {
					s := newStackWith(t, sampler)
					srv := httptest.NewServer(s.chain(order, mux()))
					defer srv.Close()
					get(t, srv, "/items/7")
					s.agree(t, ok("/items/{id}", 200), sname == "sampled")
				})
			}
		}
	}
}

// TestAppliedTwice: each middleware applied twice, as a shared wrapper
// and again around a sub-tree, records the request once.
func TestAppliedTwice(t *testing.T) {
	for _, name := range []string{"logging", "metrics", "tracing"} {
		t.Run(name, func(t *testing.T) {
			s := newStack(t)
			twice := s.mw[name]
			srv := httptest.NewServer(s.standard(withValue(twice(itemsMux()))))
			defer srv.Close()
			get(t, srv, "/items/7")
			s.agree(t, ok("/items/{id}", 200), true)
		})
	}
}

// TestAccessLineBounded sends what a client controls at sizes and bytes
// that would make the access line longer than 16 KiB: the line stays
// under, the cut values end in the marker, and the three layers still
// agree.
func TestAccessLineBounded(t *testing.T) {
	s := newStack(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/items/", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "x") })
	srv := httptest.NewServer(s.standard(mux))
	defer srv.Close()
	req, err := http.NewRequest(strings.Repeat("M", 20<<10), srv.URL+"/items/"+strings.Repeat("%22", 20<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", strings.Repeat("\xff", 20<<10)) // each byte is \ufffd in JSON
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	lines := s.logs.Lines()
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want the access line", len(lines))
	}
	if n := len(lines[0]); n > 16<<10 {
		t.Fatalf("access line of %d bytes, over 16 KiB", n)
	}
	a := s.accessLines(t)[0]
	for _, k := range []string{"method", "path", "user_agent"} {
		if v, _ := a[k].(string); !strings.HasSuffix(v, "...[truncated]") {
			t.Errorf("%s does not end in the marker: %.40q", k, v)
		}
	}
	// The method is not a standard one: "OTHER" in the metric and "HTTP"
	// in the span name; the route and status agree.
	s.agree(t, ok("/items/", 200), true)
}

// TestAccessLineWithoutPath: logging.Path(false) leaves the raw path out
// of the access line, and keeps the route.
func TestAccessLineWithoutPath(t *testing.T) {
	s := newStackWith(t, sdktrace.AlwaysSample(), logging.Path(false))
	srv := httptest.NewServer(s.standard(itemsMux()))
	defer srv.Close()
	get(t, srv, "/items/alice@example.com")
	if strings.Contains(s.logs.String(), "alice") {
		t.Fatalf("the path reached the log: %s", s.logs)
	}
	if _, ok := s.accessLines(t)[0]["path"]; ok {
		t.Error("the access line has a path")
	}
	s.agree(t, ok("/items/{id}", 200), true)
}
