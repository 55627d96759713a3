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
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/tracing"
)

type userKey struct{}

// withValue hides r.Pattern from every layer outside it.
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
	return newStackSampled(t, sdktrace.AlwaysSample())
}

// newStackSampled is newStack with the tracer provider's sampler.
func newStackSampled(t *testing.T, sampler sdktrace.Sampler) *stack {
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
		"logging": logging.Middleware(l),
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

// check asserts that each layer recorded the one request once, with the
// same route, status and IDs.
func (s *stack) check(t *testing.T, route, code string, bytes float64, level string) {
	t.Helper()
	spans := s.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	sp := spans[0]
	if want := "GET " + route; sp.Name() != want {
		t.Errorf("span name %q, want %q", sp.Name(), want)
	}
	var access []map[string]any
	var handlerLine map[string]any
	for _, l := range s.logs.JSON(t) {
		switch l["msg"] {
		case "request":
			access = append(access, l)
		case "handler":
			handlerLine = l
		}
	}
	if len(access) != 1 {
		t.Fatalf("%d access lines, want 1", len(access))
	}
	a := access[0]
	want := map[string]any{
		"route": route, "status": code, "bytes": fmt.Sprint(bytes), "level": level,
		"trace_id": sp.SpanContext().TraceID().String(), "span_id": sp.SpanContext().SpanID().String(),
	}
	for k, v := range want {
		if fmt.Sprint(a[k]) != v {
			t.Errorf("access line %s = %v, want %v", k, a[k], v)
		}
	}
	if id, _ := a["correlation_id"].(string); id == "" || handlerLine == nil || handlerLine["correlation_id"] != id {
		t.Errorf("correlation_id: access line %v, handler line %v", a["correlation_id"], handlerLine)
	}
	if handlerLine != nil && handlerLine["trace_id"] != want["trace_id"] {
		t.Errorf("handler line trace_id %v, want %v", handlerLine["trace_id"], want["trace_id"])
	}
	if n := testutil.CollectAndCount(s.reg, "http_requests_total"); n != 1 {
		t.Errorf("%d http_requests_total series, want 1", n)
	}
	series := fmt.Sprintf(`
# HELP http_requests_total Number of HTTP requests served, by method, route template and status code.
# TYPE http_requests_total counter
http_requests_total{code=%q,method="GET",route=%q} 1
`, code, route)
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(series), "http_requests_total"); err != nil {
		t.Error(err)
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
			s.check(t, "/items/{id}", "201", 5, "info")
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
				s := newStackSampled(t, sdktrace.NeverSample())
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
				if n := len(s.spans.Ended()); n != 0 {
					t.Fatalf("%d spans recorded, want 0", n)
				}
				code := "202"
				if panics {
					code = "500"
				}
				var routes []any
				for _, l := range s.logs.JSON(t) {
					if l["msg"] == "request" {
						routes = append(routes, l["route"])
					}
				}
				if len(routes) != 1 || routes[0] != "/items/{id}" {
					t.Errorf("access lines have routes %v, want /items/{id} once", routes)
				}
				series := fmt.Sprintf(`
# HELP http_requests_total Number of HTTP requests served, by method, route template and status code.
# TYPE http_requests_total counter
http_requests_total{code=%q,method="GET",route="/items/{id}"} 1
`, code)
				if err := testutil.GatherAndCompare(s.reg, strings.NewReader(series), "http_requests_total"); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestStackPanics checks that a panic passes every layer, each records the
// request once, and whatever recovers above them gets the original value.
func TestStackPanics(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		value any
		level string
	}{
		{"panic", boom, "error"},
		{"abort handler", http.ErrAbortHandler, "warn"},
	}
	for _, tt := range tests {
		for _, order := range orders {
			t.Run(tt.name+"/"+strings.Join(order, ">"), func(t *testing.T) {
				s := newStack(t)
				mux := http.NewServeMux()
				mux.HandleFunc("GET /items/{id}", func(_ http.ResponseWriter, r *http.Request) {
					logging.FromContext(r.Context()).Info("handler")
					panic(tt.value)
				})
				h := s.chain(order, mux)
				var got []any
				func() {
					defer func() { got = append(got, recover()) }()
					h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/7", nil))
				}()
				if len(got) != 1 || got[0] != tt.value {
					t.Fatalf("recovered %v, want %v once", got, tt.value)
				}
				s.check(t, "/items/{id}", "500", 0, tt.level)
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
			s.check(t, "/items/{id}", "200", 10, "info")
		})
	}
}

// TestStackPanicReachesServer checks, on a real server, that net/http logs
// the panic once, with its value and the stack of the handler that
// panicked: the layers that recover and re-raise keep the original frames.
func TestStackPanicReachesServer(t *testing.T) {
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
			if _, err := srv.Client().Get(srv.URL + "/items/7"); err == nil {
				t.Error("the client got a response from a handler that panicked")
			}
			srv.Close()
			out := errLog.String()
			if n := strings.Count(out, "http: panic serving"); n != 1 {
				t.Fatalf("net/http logged %d panics, want 1:\n%s", n, out)
			}
			if !strings.Contains(out, "deep in the handler") || !strings.Contains(out, "request_test.panicDeepInHandler(") {
				t.Errorf("net/http's log lacks the value or the handler's frame:\n%s", out)
			}
			s.check(t, "/items/{id}", "500", 0, "error")
		})
	}
}

func panicDeepInHandler() { panic("deep in the handler") }
