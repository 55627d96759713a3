package service

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prodready/prodready/health"
)

// Token is the admin token (ADMIN_TOKEN). It prints as [REDACTED], so a
// Config logged or printed by mistake does not give it away.
type Token string

func (Token) String() string   { return "[REDACTED]" }
func (Token) GoString() string { return "[REDACTED]" }

// MarshalText keeps the token out of JSON and zap fields.
func (Token) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }

// allows reports whether the request carries the token as
// "Authorization: Bearer <token>". Both sides are hashed first, so the
// comparison takes the same time whatever the lengths and wherever the
// first difference is.
func (t Token) allows(r *http.Request) bool {
	if t == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(t))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// guard serves h only to requests that carry the token. Without a token
// configured, everything it guards is refused: closed by default.
func (t Token) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case t == "":
			http.Error(w, "forbidden: set ADMIN_TOKEN to use this endpoint", http.StatusForbidden)
		case !t.allows(r):
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
func adminMux(cfg Config, checks *health.Checker, details *details, metricsHandler, level http.Handler) http.Handler {
	mux := http.NewServeMux()
	checks.Mount(mux)
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle("GET /loglevel", level)
	mux.Handle("PUT /loglevel", cfg.AdminToken.guard(level))
	mux.Handle("GET /debug/health", cfg.AdminToken.guard(details))
	if cfg.Pprof {
		mux.Handle("GET /debug/pprof/", cfg.AdminToken.guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/cmdline", cfg.AdminToken.guard(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("GET /debug/pprof/profile", cfg.AdminToken.guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", cfg.AdminToken.guard(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", cfg.AdminToken.guard(http.HandlerFunc(pprof.Trace)))
	}
	return http.MaxBytesHandler(mux, maxAdminBody)
}

// details keeps the last run of every check, with its error, for
// /debug/health: what the probes withhold.
type details struct {
	mu   sync.Mutex
	last map[string]health.Event
}

// observe is the checker's Observer.
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
