package benchmarks_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/logging"
)

// logWriter is the cheapest ResponseWriter, so each run measures the
// middleware and the logger.
type logWriter struct{ h http.Header }

func (w logWriter) Header() http.Header       { return w.h }
func (logWriter) Write(b []byte) (int, error) { return len(b), nil }
func (logWriter) WriteHeader(int)             {}

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

type zapKey struct{}

// zapRequestLogger is chi's RequestID followed by the usual hand-written
// zap middleware: a child logger with the request ID in the context, a
// status recorder, one access line after the handler.
func zapRequestLogger(l *zap.Logger, access bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return middleware.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rl := l.With(zap.String("request_id", middleware.GetReqID(r.Context())))
			r = r.WithContext(context.WithValue(r.Context(), zapKey{}, rl))
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

// hlogStack is zerolog's documented hlog chain: logger in the context,
// request ID (made fresh, echoed in the response), access line.
func hlogStack(access bool) func(http.Handler) http.Handler {
	zl := zerolog.New(io.Discard).With().Timestamp().Logger()
	return func(next http.Handler) http.Handler {
		h := next
		if access {
			h = hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
				hlog.FromRequest(r).Info().
					Str("method", r.Method).
					Str("path", r.URL.Path).
					Int("status", status).
					Int("bytes", size).
					Dur("duration", d).
					Str("remote", r.RemoteAddr).
					Str("user_agent", r.UserAgent()).
					Msg("request")
			})(h)
		}
		return hlog.NewHandler(zl)(hlog.RequestIDHandler("request_id", "X-Request-Id")(h))
	}
}

// zapProduction is zap's production JSON encoder and options without
// sampling (which would drop most of a benchmark's identical lines).
func zapProduction() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel),
		zap.AddCaller(), zap.AddStacktrace(zap.ErrorLevel))
}

// BenchmarkLoggingMiddleware runs GET /users/{id} on a ServeMux under each
// stack in the same run: correlation/request ID, request logger in the
// context, one access line, all JSON to io.Discard. "quiet handler" never
// uses the request logger, "handler logs" writes one line through it,
// "no access line" is the ID and logger alone.
func BenchmarkLoggingMiddleware(b *testing.B) {
	ours, _, err := logging.New(logging.Config{Output: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	zl := zapProduction()
	type stack struct {
		name string
		mw   func(http.Handler) http.Handler
		log  func(r *http.Request) // the handler's one line
	}
	stacks := func(access bool) []stack {
		oursOpts := []logging.Option{logging.AccessLog(access)}
		return []stack{
			{"prodready", logging.Middleware(ours, oursOpts...), func(r *http.Request) {
				logging.FromContext(r.Context()).Info("loaded", zap.String("id", r.PathValue("id")))
			}},
			{"chi+zap", zapRequestLogger(zl, access), func(r *http.Request) {
				r.Context().Value(zapKey{}).(*zap.Logger).Info("loaded", zap.String("id", r.PathValue("id")))
			}},
			{"zerolog-hlog", hlogStack(access), func(r *http.Request) {
				hlog.FromRequest(r).Info().Str("id", r.PathValue("id")).Msg("loaded")
			}},
		}
	}
	scenarios := []struct {
		name     string
		access   bool
		handlerL bool
	}{
		{"quiet handler", true, false},
		{"handler logs", true, true},
		{"no access line", false, false},
	}
	req := httptest.NewRequest("GET", "/users/7", nil)
	req.Header.Set("User-Agent", "bench/1.0")
	b.Run("baseline", func(b *testing.B) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		w := logWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			mux.ServeHTTP(w, req)
		}
	})
	for _, sc := range scenarios {
		for _, st := range stacks(sc.access) {
			b.Run(sc.name+"/"+st.name, func(b *testing.B) {
				mux := http.NewServeMux()
				mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
					if sc.handlerL {
						st.log(r)
					}
					w.Write([]byte("ok"))
				})
				h := st.mw(mux)
				w := logWriter{h: make(http.Header)}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(w, req)
				}
			})
		}
	}
}
