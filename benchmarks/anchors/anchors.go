// Package anchors is the stack a team builds without prodready, the
// anchors every comparison is made against: otelhttp for traces, chi's
// RequestID with the usual hand-written zap access log, and promhttp's
// documented four-handler chain. The comparison benchmarks of benchmarks/
// and the load test's anchors twin of the catalog
// (benchmarks/cmd/load/catalog_anchors.go) both use it, so the two measure
// the same code.
package anchors

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/zeromicro/go-zero/core/load"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Stack is the three stacked, outermost first: otelhttp.NewHandler around
// RequestLogger (with an access line) around PromhttpChain, with handler
// as promhttp's "handler" label and otelOpts for otelhttp (a tracer
// provider of the caller's).
func Stack(next http.Handler, l *zap.Logger, reg prometheus.Registerer, handler string, otelOpts ...otelhttp.Option) http.Handler {
	return otelhttp.NewHandler(RequestLogger(l, true)(PromhttpChain(reg, handler, next)), "server", otelOpts...)
}

// DurationBuckets are OpenTelemetry's default duration buckets, in
// seconds: every RED middleware compared is given them, so that each
// observation does the same work.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// PromhttpChain is promhttp's documented four-handler chain (in flight,
// duration, counter, response size), with handler as a curried "handler"
// label: promhttp allows only code and method as variable labels. It
// registers its collectors with reg and panics if they clash.
func PromhttpChain(reg prometheus.Registerer, handler string, next http.Handler) http.Handler {
	labels := []string{"handler", "code", "method"}
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "http_requests_in_flight", Help: "Requests being served."})
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests served."}, labels)
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "Request duration.", Buckets: DurationBuckets,
	}, labels)
	size := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_response_size_bytes", Help: "Response size.", Buckets: prometheus.ExponentialBuckets(64, 4, 10),
	}, labels)
	reg.MustRegister(inFlight, counter, duration, size)
	h := prometheus.Labels{"handler": handler}
	return promhttp.InstrumentHandlerInFlight(inFlight,
		promhttp.InstrumentHandlerDuration(duration.MustCurryWith(h),
			promhttp.InstrumentHandlerCounter(counter.MustCurryWith(h),
				promhttp.InstrumentHandlerResponseSize(size.MustCurryWith(h), next))))
}

// ZapProduction is a logger with zap's production JSON encoder and
// options, writing to w, without the sampling zap.NewProduction adds
// (which would drop most of a benchmark's identical lines, and which
// prodready's logger leaves off too).
func ZapProduction(w io.Writer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zap.InfoLevel),
		zap.AddCaller(), zap.AddStacktrace(zap.ErrorLevel))
}

type loggerKey struct{}

// Logger is the request logger RequestLogger put in ctx.
func Logger(ctx context.Context) *zap.Logger {
	l, _ := ctx.Value(loggerKey{}).(*zap.Logger)
	return l
}

// RequestLogger is chi's RequestID followed by the usual hand-written zap
// middleware: a child logger with the request ID in the context, a status
// recorder, one access line after the handler when access is true.
func RequestLogger(l *zap.Logger, access bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return middleware.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rl := l.With(zap.String("request_id", middleware.GetReqID(r.Context())))
			r = r.WithContext(context.WithValue(r.Context(), loggerKey{}, rl))
			if !access {
				next.ServeHTTP(w, r)
				return
			}
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			rl.Info("request",
				zap.String("method", r.Method),
				zap.String("path", r.URL.Path),
				zap.Int("status", rec.status),
				zap.Int("bytes", rec.bytes),
				zap.Duration("duration", time.Since(start)),
				zap.String("remote", r.RemoteAddr),
				zap.String("user_agent", r.UserAgent()),
			)
		}))
	}
}

// statusRecorder is the response wrapper an access-log middleware is
// usually written with.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// GoZeroShedding is go-zero's adaptive load shedder (core/load, the one
// rest.Server installs with its default CpuThreshold of 900) as go-zero's
// own rest/handler.SheddingHandler applies it: 503 for a dropped request,
// and a promise passed or failed by the status the handler wrote. Its
// per-drop error log and stat counters are left out, so that only the
// decision differs from prodready's Admission in the overload test.
func GoZeroShedding(next http.Handler) http.Handler {
	shedder := load.NewAdaptiveShedder()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		promise, err := shedder.Allow()
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			if cw.code == http.StatusServiceUnavailable {
				promise.Fail()
			} else {
				promise.Pass()
			}
		}()
		next.ServeHTTP(cw, r)
	})
}

// codeWriter records the status, as go-zero's WithCodeResponseWriter.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
