package benchmarks_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"
	"go.uber.org/zap"

	"github.com/prodready/prodready/benchmarks/anchors"
	"github.com/prodready/prodready/logging"
)

// logWriter is the cheapest ResponseWriter, so each run measures the
// middleware and the logger.
type logWriter struct{ h http.Header }

func (w logWriter) Header() http.Header       { return w.h }
func (logWriter) Write(b []byte) (int, error) { return len(b), nil }
func (logWriter) WriteHeader(int)             {}

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
	zl := anchors.ZapProduction(io.Discard)
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
			{"chi+zap", anchors.RequestLogger(zl, access), func(r *http.Request) {
				anchors.Logger(r.Context()).Info("loaded", zap.String("id", r.PathValue("id")))
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
