package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/secrets"
	"github.com/prodready/prodready/server"
)

// maxAdminTokenFile bounds the admin token file: a token is at most 1 KiB
// (server.ValidToken); anything larger is not one.
const maxAdminTokenFile = 4 << 10

// watchAdminToken reads ADMIN_TOKEN_FILE and keeps it current until ctx
// ends or the file is closed; nil when path is empty. A file that is
// missing or invalid at start is no error: the guarded endpoints stay
// closed, and the file's check says why, until a good token appears (an
// optional Kubernetes Secret created after the pod, say). A rotation that
// writes something server.ValidToken rejects keeps the last good token.
func watchAdminToken(ctx context.Context, path string, logger *slog.Logger) (*secrets.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := secrets.Watch(ctx, path,
		secrets.TrimNewline(true), secrets.MaxSize(maxAdminTokenFile),
		secrets.Validate(server.ValidToken), secrets.WaitForFile(true), secrets.Logger(logger))
	if err != nil {
		return nil, fmt.Errorf("ADMIN_TOKEN_FILE: %w", err)
	}
	return f, nil
}

// adminToken is the guard's token: the file's current value, so a rotated
// token opens the endpoints from the next request on; nil (everything
// guarded closed) without a file.
func adminToken(f *secrets.File) func() string {
	if f == nil {
		return nil
	}
	return func() string { return f.Value().Reveal() }
}

// adminMux is the admin port. Open to anyone who can reach the port:
// the probes (kubelet), /metrics (Prometheus) and reading the log level.
// Behind the token (server.Guard): changing the log level, the checks'
// failure reasons (/debug/health: error text names hosts, users and
// versions) and, only when switched on (PPROF=true), the profiler.
// token is the watched ADMIN_TOKEN_FILE, nil when unset.
func adminMux(stop context.Context, cfg Config, token *secrets.File, checks *health.Checker, details *details, metricsHandler, level http.Handler) http.Handler {
	guard := server.Guard(adminToken(token))
	mux := http.NewServeMux()
	checks.Mount(mux)
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle("GET /loglevel", level)
	mux.Handle("PUT /loglevel", guard(level))
	mux.Handle("GET /debug/health", guard(details))
	if cfg.Pprof {
		mux.Handle("GET /debug/pprof/", guard(server.Profiler(server.StopProfiles(stop)))) // ends at the shutdown
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
