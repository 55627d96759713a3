package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/logging"
)

// show prints the chosen keys of each JSON line in buf, in that order, so
// that the examples' output does not depend on the time or the caller.
func show(buf *bytes.Buffer, keys ...string) {
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			fmt.Println("not JSON:", line)
			continue
		}
		var parts []string
		for _, k := range keys {
			if v, ok := m[k]; ok {
				parts = append(parts, fmt.Sprintf("%s=%v", k, v))
			}
		}
		fmt.Println(strings.Join(parts, " "))
	}
}

func ExampleNew() {
	var buf bytes.Buffer
	logger, level, err := logging.New(logging.Config{
		Level:   "info",
		Service: "catalog",
		Version: "1.4.0",
		Output:  &buf, // os.Stdout when nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer logger.Sync()

	logger.Debug("not shown at info")
	logger.Info("listening", zap.String("addr", ":8080"))

	// Mount the level on the admin port.
	admin := http.NewServeMux()
	admin.Handle("/loglevel", logging.LevelHandler(logger, level))

	show(&buf, "level", "msg", "service", "version", "addr")
	// Output:
	// level=info msg=listening service=catalog version=1.4.0 addr=:8080
}

func ExampleLevelHandler() {
	var buf bytes.Buffer
	logger, level, _ := logging.New(logging.Config{Output: &buf})
	admin := httptest.NewServer(logging.LevelHandler(logger, level))
	defer admin.Close()

	// curl -X PUT -d '{"level":"debug"}' localhost:9090/loglevel
	for _, body := range []string{`{"level":"debug"}`, `{"level":"fatal"}`} {
		req, _ := http.NewRequest(http.MethodPut, admin.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // what curl -d sends
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(answer))
	}
	show(&buf, "level", "msg", "old", "new", "token")
	// Output:
	// 200 {"level":"debug"}
	// 400 {"error":"level fatal would silence every error line: want {\"level\":\"debug\"} or level=debug (debug, info, warn or error)"}
	// level=warn msg=log level set old=info new=debug token=false
}

func ExampleNew_invalidLevel() {
	_, _, err := logging.New(logging.Config{Level: "verbose"})
	fmt.Println(err)
	// Output:
	// logging: invalid level (valid: debug, info, warn, error, dpanic, panic, fatal): "verbose"
}

func ExampleSampling() {
	var buf bytes.Buffer
	sampling := &logging.Sampling{First: 2, Thereafter: 1000}
	logger, _, _ := logging.New(logging.Config{Output: &buf, Sampling: sampling})
	for range 10 {
		logger.Info("cache miss")
	}
	fmt.Println("written:", strings.Count(buf.String(), "\n"), "dropped:", sampling.Dropped())
	// Output:
	// written: 2 dropped: 8
}

func ExampleGoogleCloud() {
	var buf bytes.Buffer
	logger, _, _ := logging.New(logging.Config{Output: &buf, Fields: logging.GoogleCloud("my-project")})
	logger.Warn("slow query")
	show(&buf, "severity", "message")
	// Output:
	// severity=WARNING message=slow query
}

func ExampleECS() {
	var buf bytes.Buffer
	logger, _, _ := logging.New(logging.Config{Output: &buf, Service: "orders", Fields: logging.ECS()})
	logger.Info("started")
	show(&buf, "log.level", "message", "service.name", "ecs.version")
	// Output:
	// log.level=info message=started service.name=orders ecs.version=8.11.0
}

func ExampleOpenTelemetry() {
	fmt.Println(logging.OpenTelemetry(), logging.GoogleCloud(""), logging.ECS())
	// Output:
	// opentelemetry googlecloud ecs
}

func ExampleMiddleware() {
	var buf bytes.Buffer
	logger, _, _ := logging.New(logging.Config{Output: &buf})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		logging.FromContext(r.Context()).Info("loading order", zap.String("id", r.PathValue("id")))
		io.WriteString(w, "order 42")
	})
	handler := logging.Middleware(logger, logging.SkipPaths("/readyz"))(mux)

	req := httptest.NewRequest("GET", "/orders/42", nil)
	req.Header.Set("X-Correlation-ID", "checkout-7f3a")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)

	fmt.Println("response header:", rec.Header().Get("X-Correlation-ID"))
	show(&buf, "msg", "correlation_id", "method", "route", "path", "status", "bytes")
	// Output:
	// response header: checkout-7f3a
	// msg=loading order correlation_id=checkout-7f3a
	// msg=request correlation_id=checkout-7f3a method=GET route=/orders/{id} path=/orders/42 status=200 bytes=8
}

func ExampleHeaders() {
	logger, _, _ := logging.New(logging.Config{Output: io.Discard})
	handler := logging.Middleware(logger, logging.Headers("X-Amzn-Trace-Id", "X-Request-ID"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Println("in handler:", logging.CorrelationID(r.Context()))
		}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-ID", "from-the-load-balancer")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println("echoed in:", rec.Header().Get("X-Amzn-Trace-Id"))
	// Output:
	// in handler: from-the-load-balancer
	// echoed in: from-the-load-balancer
}

func ExampleFromContext() {
	var buf bytes.Buffer
	logger, _, _ := logging.New(logging.Config{Output: &buf})
	handler := logging.Middleware(logger, logging.AccessLog(false))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			log := logging.FromContext(r.Context())
			log.Info("charging card", zap.Int("cents", 1299))
		}))
	req := httptest.NewRequest("POST", "/pay", nil)
	req.Header.Set("X-Request-ID", "pay-1")
	handler.ServeHTTP(httptest.NewRecorder(), req)

	// Outside a request: never nil.
	logging.FromContext(context.Background()).Info("dropped by zap's no-op global")

	show(&buf, "msg", "correlation_id", "cents")
	// Output:
	// msg=charging card correlation_id=pay-1 cents=1299
}

func ExampleTransport() {
	logger, _, _ := logging.New(logging.Config{Output: io.Discard})
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("catalog got:", r.Header.Get("X-Correlation-ID"))
	}))
	defer catalog.Close()
	client := &http.Client{Transport: logging.Transport(catalog.Client().Transport)}
	defer client.CloseIdleConnections()

	orders := logging.Middleware(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", catalog.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
	}))
	req := httptest.NewRequest("POST", "/orders", nil)
	req.Header.Set("X-Correlation-ID", "order-99")
	orders.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// catalog got: order-99
}

func ExampleSlog() {
	var buf bytes.Buffer
	logger, _, _ := logging.New(logging.Config{Output: &buf})
	slogger := logging.Slog(logger).With("component", "db")

	handler := logging.Middleware(logger, logging.AccessLog(false))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			slogger.InfoContext(r.Context(), "query", "rows", 3)
		}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Correlation-ID", "abc")
	handler.ServeHTTP(httptest.NewRecorder(), req)
	show(&buf, "level", "msg", "component", "rows", "correlation_id")
	// Output:
	// level=info msg=query component=db rows=3 correlation_id=abc
}

// ExampleSkipPaths keeps probes out of the access log.
func ExampleSkipPaths() {
	var buf bytes.Buffer
	logger, _, _ := logging.New(logging.Config{Output: &buf})
	handler := logging.Middleware(logger, logging.SkipPaths("/livez", "/readyz", "/metrics"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, p := range []string{"/readyz", "/orders", "/metrics"} {
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	show(&buf, "msg", "path")
	// Output:
	// msg=request path=/orders
}

// ExamplePath keeps paths, which can carry emails or tokens, out of the
// access line; the route stays.
func ExamplePath() {
	var buf bytes.Buffer
	logger, _, _ := logging.New(logging.Config{Output: &buf})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{email}", func(http.ResponseWriter, *http.Request) {})
	handler := logging.Middleware(logger, logging.Path(false))(mux)
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/alice@example.com", nil))
	show(&buf, "msg", "route", "path")
	// Output:
	// msg=request route=/users/{email}
}

func ExampleAccessLog() {
	logger, _, _ := logging.New(logging.Config{Output: os.Stdout})
	// IDs and request loggers, but no access line (another layer writes it).
	handler := logging.Middleware(logger, logging.AccessLog(false))(http.NotFoundHandler())
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Output:
}

func ExampleFields() {
	// A logger New did not make: name the IDs for Elastic all the same.
	var buf bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	logger := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zap.InfoLevel))
	handler := logging.Middleware(logger, logging.Fields(logging.ECS()))(http.NotFoundHandler())
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("X-Correlation-ID", "c-1")
	handler.ServeHTTP(httptest.NewRecorder(), req)
	show(&buf, "http.request.id", "http.response.status_code")
	// Output:
	// http.request.id=c-1 http.response.status_code=404
}
