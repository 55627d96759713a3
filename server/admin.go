package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Admin token limits: 16 to 1024 visible ASCII bytes, what an
// Authorization header carries unchanged (`openssl rand -hex 16` makes
// one).
const (
	minToken = 16
	maxToken = 1 << 10
)

// ErrInvalidToken is what ValidToken's errors wrap.
var ErrInvalidToken = errors.New("server: not an admin token")

// ValidToken reports whether b can be an admin token for Guard: 16 to
// 1024 bytes of visible ASCII, no spaces or control characters (trim a
// file's final newline first). Its errors say what is wrong, never what b
// holds, so it fits secrets.Validate for a watched token file: a rotation
// that writes something else keeps the last good token.
func ValidToken(b []byte) error {
	switch {
	case len(b) < minToken:
		return fmt.Errorf("%w: shorter than %d bytes", ErrInvalidToken, minToken)
	case len(b) > maxToken:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxToken)
	case slices.ContainsFunc(b, func(c byte) bool { return c <= ' ' || c > '~' }):
		return fmt.Errorf("%w: not visible ASCII (spaces, control characters or UTF-8)", ErrInvalidToken)
	}
	return nil
}

// Guard returns a middleware that serves only requests carrying
// "Authorization: Bearer <token>" for the token that token returns when the
// request arrives, so a rotated token takes effect at the next request.
// Everything it guards is closed by default: with token nil, or while
// token returns "" or a string ValidToken rejects (a token file not
// loaded yet), every request is refused with 403; a missing or wrong
// token gets 401 with WWW-Authenticate. The comparison hashes both sides
// first, so it takes the same time whatever the lengths and wherever the
// first difference is. Neither answer shows the token.
//
// With the secrets package, token is a watched file's current value:
//
//	f, err := secrets.Watch(ctx, path, secrets.TrimNewline(true), secrets.Validate(server.ValidToken))
//	guard := server.Guard(func() string { return f.Value().Reveal() })
//	admin.Handle("PUT /loglevel", guard(logging.LevelHandler(log, level)))
func Guard(token func() string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var want string
			if token != nil {
				want = token()
			}
			switch {
			case want == "" || ValidToken([]byte(want)) != nil:
				http.Error(w, "forbidden: no admin token is configured", http.StatusForbidden)
			case !bearer(r, want):
				w.Header().Set("WWW-Authenticate", `Bearer realm="admin"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// bearer reports whether r carries "Authorization: Bearer <token>".
func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// AdminConfig is what Admin serves. Every field may be left out, and its
// endpoints are not served.
type AdminConfig struct {
	// Health mounts the probes on the mux, open: (*health.Checker).Mount,
	// GET /livez, /readyz and /startupz.
	Health func(mux *http.ServeMux)
	// Metrics is GET /metrics, open: metrics.Handler(reg).
	Metrics http.Handler
	// LogLevel is the level's handler, logging.LevelHandler: GET
	// /loglevel is open, PUT /loglevel behind the token.
	LogLevel http.Handler
	// Details is GET /debug/health, behind the token: every check's last
	// result with its error, (*health.Checker).Details. Error text names
	// hosts, users and versions, which the probes withhold.
	Details http.Handler
	// Token is Guard's token; nil or returning "": every guarded endpoint
	// is refused.
	Token func() string
	// Pprof serves the profiler (Profiler) on GET /debug/pprof/, behind
	// the token.
	Pprof bool
	// Stop ends the profiles in progress when it is done (StopProfiles):
	// the shutdown's Context. Nil: a profile runs for as long as it asked.
	Stop context.Context
}

// Admin returns the admin port's handler: open to anyone who can reach
// the port, the probes (kubelet cannot carry a token), /metrics
// (Prometheus) and reading the log level; behind the token (Guard),
// changing the log level, the checks' failure reasons and, only when
// switched on, the profiler. Serve it with Config.AdminServer, which caps
// its bodies at 4 KiB, on a listener capped at MaxAdminConns, and keep the
// port inside the cluster all the same.
func Admin(cfg AdminConfig) http.Handler {
	guard := Guard(cfg.Token)
	mux := http.NewServeMux()
	if cfg.Health != nil {
		cfg.Health(mux)
	}
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	if cfg.LogLevel != nil {
		mux.Handle("GET /loglevel", cfg.LogLevel)
		mux.Handle("PUT /loglevel", guard(cfg.LogLevel))
	}
	if cfg.Details != nil {
		mux.Handle("GET /debug/health", guard(cfg.Details))
	}
	if cfg.Pprof {
		mux.Handle("GET /debug/pprof/", guard(Profiler(StopProfiles(cfg.Stop))))
	}
	return mux
}
