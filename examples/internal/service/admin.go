package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/secrets"
)

// Admin token file limits: a token is 16 to 1024 visible ASCII bytes
// (what an Authorization header carries unchanged; `openssl rand -hex 16`
// makes one), in a file of at most 4 KiB. Anything else in the file (a
// truncated write, a binary, the wrong file) keeps the last good token.
const (
	minAdminToken     = 16
	maxAdminToken     = 1 << 10
	maxAdminTokenFile = 4 << 10
)

var errBadAdminToken = errors.New("service: admin token file does not hold a token")

// validAdminToken is the admin token file's validator. Its errors say what
// is wrong, never what the file holds.
func validAdminToken(b []byte) error {
	switch {
	case len(b) < minAdminToken:
		return fmt.Errorf("%w: shorter than %d bytes", errBadAdminToken, minAdminToken)
	case len(b) > maxAdminToken:
		return fmt.Errorf("%w: longer than %d bytes", errBadAdminToken, maxAdminToken)
	case slices.ContainsFunc(b, func(c byte) bool { return c <= ' ' || c > '~' }):
		return fmt.Errorf("%w: not visible ASCII (spaces, control characters or UTF-8)", errBadAdminToken)
	}
	return nil
}

// watchAdminToken reads ADMIN_TOKEN_FILE and keeps it current until ctx
// ends or the file is closed; nil when path is empty. A file that is
// missing or invalid at start is no error: the guarded endpoints stay
// closed, and the file's check says why, until a good token appears (an
// optional Kubernetes Secret created after the pod, say).
func watchAdminToken(ctx context.Context, path string, logger *slog.Logger) (*secrets.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := secrets.Watch(ctx, path,
		secrets.TrimNewline(true), secrets.MaxSize(maxAdminTokenFile),
		secrets.Validate(validAdminToken), secrets.WaitForFile(true), secrets.Logger(logger))
	if err != nil {
		return nil, fmt.Errorf("ADMIN_TOKEN_FILE: %w", err)
	}
	return f, nil
}

// allows reports whether the request carries token as
// "Authorization: Bearer <token>". Both sides are hashed first, so the
// comparison takes the same time whatever the lengths and wherever the
// first difference is.
func allows(token secrets.Secret, r *http.Request) bool {
	if token.IsZero() {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token.Reveal()))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// guard serves h only to requests that carry the admin token current when
// they arrive, so a rotated file takes effect without a restart. Without a
// token file (token nil), or before it has held a valid token, everything
// it guards is refused: closed by default.
func guard(token *secrets.File, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == nil {
			http.Error(w, "forbidden: set ADMIN_TOKEN_FILE to use this endpoint", http.StatusForbidden)
			return
		}
		switch current := token.Value(); {
		case current.IsZero():
			http.Error(w, "forbidden: ADMIN_TOKEN_FILE holds no valid token yet", http.StatusForbidden)
		case !allows(current, r):
			w.Header().Set("WWW-Authenticate", `Bearer realm="admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// adminMux is the admin port. Open to anyone who can reach the port:
// the probes (kubelet), /metrics (Prometheus) and reading the log level.
// Behind the token: changing the log level, the checks' failure reasons
// (/debug/health: error text names hosts, users and versions) and, only
// when switched on (PPROF=true), the profiler.
// token is the watched ADMIN_TOKEN_FILE, nil when unset.
func adminMux(cfg Config, token *secrets.File, checks *health.Checker, details *details, metricsHandler, level http.Handler) http.Handler {
	mux := http.NewServeMux()
	checks.Mount(mux)
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle("GET /loglevel", level)
	mux.Handle("PUT /loglevel", guard(token, level))
	mux.Handle("GET /debug/health", guard(token, details))
	if cfg.Pprof {
		mux.Handle("GET /debug/pprof/", guard(token, http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/cmdline", guard(token, http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("GET /debug/pprof/profile", guard(token, http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", guard(token, http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", guard(token, http.HandlerFunc(pprof.Trace)))
	}
	return http.MaxBytesHandler(mux, maxAdminBody)
}

// details keeps the last run of every check, with its error, for
// /debug/health: what the probes withhold.
type details struct {
	mu   sync.Mutex
	last map[string]health.Event
}

// observe is the checker's OnEvent hook.
func (d *details) observe(ev health.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		d.last = make(map[string]health.Event)
	}
	d.last[ev.Kind.String()+"/"+ev.Name] = ev
}

// detail is one check in the /debug/health body.
type detail struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	Time     time.Time `json:"time"`
	Duration string    `json:"duration"`
	Error    string    `json:"error,omitempty"`
}

func (d *details) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	out := make([]detail, 0, len(d.last))
	for _, ev := range d.last {
		dt := detail{Name: ev.Name, Kind: ev.Kind.String(), Status: ev.Status.String(), Time: ev.Time.UTC(), Duration: ev.Duration.String()}
		if ev.Err != nil {
			dt.Error = ev.Err.Error()
		}
		out = append(out, dt)
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b detail) int { return strings.Compare(a.Kind+"/"+a.Name, b.Kind+"/"+b.Name) })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string][]detail{"checks": out})
}
