package logging_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
)

// accessLines returns the lines whose msg is "request".
func accessLines(t *testing.T, s *testenv.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range s.JSON(t) {
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func TestAccessLine(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "item "+r.PathValue("id"))
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /teapot", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	tests := []struct {
		name   string
		method string
		path   string
		level  string
		route  string
		status int
		bytes  int
	}{
		{"matched route", "GET", "/items/42", "info", "/items/{id}", 200, 7},
		{"client error stays info", "GET", "/teapot", "info", "/teapot", 418, 0},
		{"server error is error", "POST", "/fail", "error", "/fail", 503, 5},
		{"unmatched", "GET", "/nope", "info", "unmatched", 404, 19},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, out := newLogger(t, logging.Config{})
			h := logging.Middleware(l)(mux)
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Header.Set("User-Agent", "probe/1.0")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			lines := accessLines(t, out)
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1", len(lines))
			}
			m := lines[0]
			want := map[string]any{
				"level": tt.level, "method": tt.method, "route": tt.route, "path": tt.path,
				"status": fmt.Sprint(tt.status), "bytes": fmt.Sprint(tt.bytes),
				"remote": "192.0.2.1:1234", "user_agent": "probe/1.0",
				"correlation_id": rec.Header().Get("X-Correlation-ID"),
			}
			for k, v := range want {
				if fmt.Sprint(m[k]) != fmt.Sprint(v) {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			if d, ok := m["duration"].(float64); !ok || d < 0 || d > 5 {
				t.Errorf("duration %v is not seconds", m["duration"])
			}
			for _, k := range []string{"caller", "stacktrace", "trace_id"} {
				if _, ok := m[k]; ok {
					t.Errorf("access line has %q: %v", k, m)
				}
			}
		})
	}
}

func TestCorrelationIDHeader(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    string // "" means a new UUIDv7
	}{
		{"none", nil, ""},
		{"valid correlation ID", map[string]string{"X-Correlation-ID": "abc-123"}, "abc-123"},
		{"valid request ID", map[string]string{"X-Request-ID": "req.7:a_b"}, "req.7:a_b"},
		{"correlation ID wins", map[string]string{"X-Correlation-ID": "first", "X-Request-ID": "second"}, "first"},
		{"invalid correlation, valid request ID", map[string]string{"X-Correlation-ID": "a b", "X-Request-ID": "ok"}, "ok"},
		{"valid UUID", map[string]string{"X-Correlation-ID": "0190f1f4-8f1a-7c3e-9b1d-2a3b4c5d6e7f"}, "0190f1f4-8f1a-7c3e-9b1d-2a3b4c5d6e7f"},
		{"too long", map[string]string{"X-Correlation-ID": strings.Repeat("x", 129)}, ""},
		{"space", map[string]string{"X-Correlation-ID": "has space"}, ""},
		{"unicode", map[string]string{"X-Correlation-ID": "ünïcode"}, ""},
		{"log injection", map[string]string{"X-Correlation-ID": `x","level":"error`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, out := newLogger(t, logging.Config{})
			var inHandler string
			h := logging.Middleware(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inHandler = logging.CorrelationID(r.Context())
				logging.FromContext(r.Context()).Info("work")
			}))
			req := httptest.NewRequest("GET", "/", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Correlation-ID")
			if tt.want != "" && got != tt.want {
				t.Fatalf("response ID %q, want %q", got, tt.want)
			}
			if tt.want == "" {
				if u, err := uuid.Parse(got); err != nil || u.Version() != 7 {
					t.Fatalf("response ID %q is not a new UUIDv7", got)
				}
			}
			if inHandler != got {
				t.Fatalf("CorrelationID in handler %q, response %q", inHandler, got)
			}
			for _, m := range out.JSON(t) {
				if m["correlation_id"] != got {
					t.Fatalf("line %v does not carry %q", m, got)
				}
			}
		})
	}
}

func TestSkipAndAccessOff(t *testing.T) {
	tests := []struct {
		name  string
		opts  []logging.Option
		path  string
		lines int
	}{
		{"logged by default", nil, "/readyz", 1},
		{"skipped path", []logging.Option{logging.SkipPaths("/readyz", "/metrics")}, "/readyz", 0},
		{"other path still logged", []logging.Option{logging.SkipPaths("/readyz")}, "/orders", 1},
		{"access log off", []logging.Option{logging.AccessLog(false)}, "/orders", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, out := newLogger(t, logging.Config{})
			h := logging.Middleware(l, tt.opts...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			if n := len(accessLines(t, out)); n != tt.lines {
				t.Fatalf("%d access lines, want %d", n, tt.lines)
			}
			if rec.Header().Get("X-Correlation-ID") == "" {
				t.Fatal("no correlation ID on a request left out of the access log")
			}
		})
	}
}

func TestNestedMiddlewareLogsOnce(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{})
	mw := logging.Middleware(l)
	var inner string
	h := mw(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = logging.CorrelationID(r.Context())
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if n := len(accessLines(t, out)); n != 1 {
		t.Fatalf("%d access lines, want 1", n)
	}
	if inner != rec.Header().Get("X-Correlation-ID") {
		t.Fatalf("inner ID %q, response %q", inner, rec.Header().Get("X-Correlation-ID"))
	}
}

func TestPanic(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		value     any // what reaches the caller: nil when the panic was answered
		level     string
		status    string
		withStack bool
	}{
		{"panic before writing", func(http.ResponseWriter, *http.Request) { panic("boom") }, nil, "error", "500", true},
		{"panic after headers", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			panic("late")
		}, http.ErrAbortHandler, "error", "202", true},
		{"abort handler is not an error", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }, http.ErrAbortHandler, "warn", "500", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, out := newLogger(t, logging.Config{})
			h := logging.Middleware(l)(tt.handler)
			var got any
			func() {
				defer func() { got = recover() }()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			}()
			if got != tt.value {
				t.Fatalf("the caller recovered %v, want %v", got, tt.value)
			}
			lines := accessLines(t, out)
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1", len(lines))
			}
			m := lines[0]
			if m["level"] != tt.level || fmt.Sprint(m["status"]) != tt.status {
				t.Fatalf("level %v status %v, want %s %s", m["level"], m["status"], tt.level, tt.status)
			}
			st, _ := m["stacktrace"].(string)
			if hasStack := strings.Contains(st, "middleware_test.go"); hasStack != tt.withStack {
				t.Fatalf("stack trace present %v, want %v: %q", hasStack, tt.withStack, st)
			}
		})
	}
}

// TestPanicThroughServer checks that net/http still sees the panic and
// drops the connection, after the access line was written.
func TestPanicThroughServer(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{})
	srv := httptest.NewUnstartedServer(logging.Middleware(l)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})))
	srv.Config.ErrorLog = nil
	srv.Start()
	defer srv.Close()
	_, err := srv.Client().Get(srv.URL)
	if err == nil {
		t.Fatal("client got a response from an aborted handler")
	}
	srv.Close()
	if n := len(accessLines(t, out)); n != 1 {
		t.Fatalf("%d access lines, want 1", n)
	}
}

func TestHijackedConnection(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{})
	logged := make(chan struct{})
	h := logging.Middleware(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(logged)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatalf("response %q, %v", line, err)
	}
	<-logged
	lines := accessLines(t, out)
	if len(lines) != 1 || fmt.Sprint(lines[0]["status"]) != "101" {
		t.Fatalf("access lines %v, want one with status 101", lines)
	}
}

func newTracer(t *testing.T) trace.Tracer {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp.Tracer("test")
}

// spanAround stands in for a tracing middleware.
func spanAround(tr trace.Tracer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tr.Start(r.Context(), "server")
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func TestTraceIDsFromSDKSpan(t *testing.T) {
	tr := newTracer(t)
	tests := []struct {
		name         string
		fields       logging.FieldSet
		traceKey     string
		spanKey      string
		tracePrefix  string
		tracingOuter bool
	}{
		{"tracing outside", logging.OpenTelemetry(), "trace_id", "span_id", "", true},
		{"tracing inside", logging.OpenTelemetry(), "trace_id", "span_id", "", false},
		{"google cloud", logging.GoogleCloud("my-proj"), "logging.googleapis.com/trace", "logging.googleapis.com/spanId", "projects/my-proj/traces/", true},
		{"ecs", logging.ECS(), "trace.id", "span.id", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, out := newLogger(t, logging.Config{Fields: tt.fields})
			var sc trace.SpanContext
			app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sc = trace.SpanContextFromContext(r.Context())
				logging.FromContext(r.Context()).Info("work")
			})
			var h http.Handler
			if tt.tracingOuter {
				h = spanAround(tr, logging.Middleware(l)(app))
			} else {
				h = logging.Middleware(l)(spanAround(tr, app))
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			if !sc.IsValid() {
				t.Fatal("no span in the handler")
			}
			lines := out.JSON(t)
			if len(lines) != 2 {
				t.Fatalf("%d lines, want 2", len(lines))
			}
			for _, m := range lines {
				if m[tt.traceKey] != tt.tracePrefix+sc.TraceID().String() || m[tt.spanKey] != sc.SpanID().String() {
					t.Fatalf("line %v, want trace %s span %s", m, sc.TraceID(), sc.SpanID())
				}
			}
		})
	}
}

// TestAllocs gates the per-request cost the benchmarks report: what the
// middleware adds to the bare handler.
func TestAllocs(t *testing.T) {
	l, _, _ := newLogger(t, logging.Config{})
	l = l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	}))
	tests := []struct {
		name string
		opts []logging.Option
		id   string
		max  float64
	}{
		{"access line, incoming ID", nil, "abc-123", 4},
		{"access line, new ID", nil, "", 5},
		{"access log off", []logging.Option{logging.AccessLog(false)}, "abc-123", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			})
			h := logging.Middleware(l, tt.opts...)(bare)
			req := httptest.NewRequest("GET", "/", nil)
			if tt.id != "" {
				req.Header.Set("X-Correlation-ID", tt.id)
			}
			rec := httptest.NewRecorder()
			got := testenv.ExtraAllocs(200, func() { h.ServeHTTP(rec, req) }, func() { bare.ServeHTTP(rec, req) })
			t.Logf("%v allocs per request beyond the bare handler", got)
			limit := tt.max
			if testenv.Race {
				// The race detector makes sync.Pool drop a random share of
				// what is put back (zap's entry and buffer pools, ours), so
				// the count varies from run to run: one extra was the usual
				// case, two were seen. The exact gate is the run without
				// -race that scripts/test makes of every Allocs test.
				limit += 2
			}
			if got > limit {
				t.Fatalf("%v allocs per request, want at most %v", got, limit)
			}
		})
	}
}
