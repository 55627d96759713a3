// Command catalog is the minimal prodready service and the one to copy: an
// in-memory product catalogue with JSON logs, traces, RED metrics, health
// probes, a guarded admin port and a graceful shutdown.
//
// This file is the whole wiring, in the order it has to happen, in plain
// code that imports nothing but the standard library, prodready and what
// prodready's API hands back (zap, Prometheus). Copy it, with catalog.go
// (the service's own routes), into a new repository, change the routes,
// and it builds: TestRecipeBuildsAlone does exactly that on every test run.
//
//	go run ./examples/catalog                # serves :8080, admin on :9090
//	curl localhost:8080/products/p1
//	curl localhost:9090/readyz
//	catalog healthcheck                      # exit 0 when ready: Docker's HEALTHCHECK
//
// # Settings
//
// Everything comes from the environment; unset or empty means the default
// in parentheses, and a malformed value stops the start with an error that
// names every bad variable:
//
//   - HTTP_ADDR (:8080): the traffic port.
//   - GRPC_ADDR (:9000): catalog.v1.Catalog over gRPC, plaintext, with
//     grpc.health.v1 and reflection (grpc.go).
//   - ADMIN_ADDR (:9090): the admin port: /livez, /readyz, /startupz,
//     /metrics, /loglevel and the guarded /debug/ endpoints.
//   - SHUTDOWN_TIMEOUT (25s): the whole budget from SIGTERM to exit.
//   - SHUTDOWN_DRAIN_DELAY (5s): how long the service serves on with its
//     readiness red after SIGTERM, while load balancers take it out.
//   - HTTP_READ_HEADER_TIMEOUT (5s): how long a client may take to send
//     its request headers, on both ports.
//   - HTTP_REQUEST_TIMEOUT (40s): the request deadline (server.Deadline):
//     a handler's context ends then; the write timeout is kept 5s above it.
//   - ADMIN_TOKEN_FILE (none): the file holding the bearer token for PUT
//     /loglevel, /debug/health and /debug/pprof/, watched, so a rotated
//     token needs no restart; unset or without a valid token they are
//     refused.
//   - PPROF (false): serve /debug/pprof/ on the admin port, behind the
//     token.
//   - LOG_LEVEL (info): read by logging.New; changed at run time with PUT
//     /loglevel.
//   - OTEL_*: the standard OpenTelemetry variables, read by tracing.Setup;
//     with none set, no span is exported.
//
// # Shutdown
//
// SIGTERM, SIGINT and SIGHUP start the graceful shutdown (package shutdown):
// readiness red, the drain delay, the servers stopped with their requests
// finished, then the hooks, last added first: the trace flush, the admin
// token file, the log sync. A reader of stdout that goes away does not
// kill the process: log writes fail and the service serves on. A request
// that would outlast the servers' share of the budget (a 30s /work under
// the 25s budget) is ended with a JSON 503 in time for the hooks to run;
// settings that cannot agree are named in one warning at start.
//
// The trace flush has a cap of its own, traceFlushTimeout (2s), below the
// shutdown's cap for one hook (5s): a collector that accepts and never
// answers costs two seconds, not the budget, and the hooks after it run.
// Spans the flush could not deliver are a logged warning, "traces not
// flushed", not a failed shutdown: every request was answered and nothing
// else is lost, and an exit status of 1 would page someone, or fail a
// rollout, for a collector that is away. Every other failed or stuck hook
// makes the process exit 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/memlimit"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/secrets"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/shutdown"
	"github.com/prodready/prodready/tracing"
)

// name is the service's name on log lines, spans and metrics.
const name = "catalog"

// version and commit are stamped at build time, as the Dockerfile does:
// go build -ldflags "-X main.version=1.4.2 -X main.commit=$(git rev-parse HEAD)"
var version, commit string

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// config is every setting the service reads; see the package comment.
type config struct {
	httpAddr, adminAddr string
	grpcAddr            string
	shutdownTimeout     time.Duration
	drainDelay          time.Duration
	readHeaderTimeout   time.Duration
	requestTimeout      time.Duration
	adminTokenFile      string
	pprof               bool
}

func run(ctx context.Context, args []string) error {
	var env envReader
	cfg := config{
		httpAddr:          env.String("HTTP_ADDR", ":8080"),
		adminAddr:         env.String("ADMIN_ADDR", ":9090"),
		grpcAddr:          env.String("GRPC_ADDR", ":9000"),
		shutdownTimeout:   env.Duration("SHUTDOWN_TIMEOUT", 25*time.Second),
		drainDelay:        env.Duration("SHUTDOWN_DRAIN_DELAY", 5*time.Second),
		readHeaderTimeout: env.Duration("HTTP_READ_HEADER_TIMEOUT", 5*time.Second),
		requestTimeout:    env.Duration("HTTP_REQUEST_TIMEOUT", 40*time.Second),
		adminTokenFile:    env.String("ADMIN_TOKEN_FILE", ""),
		pprof:             env.Bool("PPROF", false),
	}
	if err := env.Err(); err != nil {
		return err
	}
	switch {
	case len(args) == 0:
		return serve(ctx, cfg)
	case len(args) == 1 && args[0] == "healthcheck":
		return healthcheck(ctx, cfg.adminAddr)
	default:
		return fmt.Errorf("unknown arguments %q; usage: %s [healthcheck]", args, name)
	}
}

// Request body limits: any body on the traffic port, whatever a handler
// forgets (a handler that decodes a body sets its own, smaller limit), and
// on the admin port, where a /loglevel change is a few bytes of JSON.
const (
	maxBody      = 1 << 20
	maxAdminBody = 4 << 10
)

// traceFlushTimeout caps the final trace flush, below the shutdown's cap
// for one hook (shutdown.HookTimeout, 5s): see "Shutdown" above.
const traceFlushTimeout = 2 * time.Second

// serve runs the service until a signal and a graceful shutdown, and
// returns nil when everything stopped cleanly. A start that fails returns
// its error at once: nothing serves yet.
func serve(ctx context.Context, cfg config) error {
	// The logger first, so that everything after it can report.
	ver := buildVersion()
	logger, level, err := logging.New(logging.Config{Service: name, Version: ver})
	if err != nil {
		return err
	}
	slogger := logging.Slog(logger) // for the packages that log through log/slog
	// GOMEMLIMIT from the container's memory limit, before the work
	// allocates; the line says what was decided.
	mem := memlimit.Apply()
	logger.Info("starting",
		zap.String("http_addr", cfg.httpAddr),
		zap.String("admin_addr", cfg.adminAddr),
		zap.Bool("admin_token", cfg.adminTokenFile != ""), // whether one is configured, never its value
		zap.Bool("pprof", cfg.pprof),
		zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)),
		zap.Int64("memory_limit", mem.Limit),
		zap.String("memory_limit_source", string(mem.Source)),
		zap.Int64("memory_limit_cgroup", mem.Cgroup),
		zap.Int("max_conns", server.DefaultMaxConns()), // the traffic port's cap
		zap.String("commit", commit))

	// The shutdown sequence, before anything it has to stop. Hooks run last
	// added first: the log sync, added first, runs last.
	sd := shutdown.New(
		shutdown.Timeout(cfg.shutdownTimeout),
		shutdown.DrainDelay(cfg.drainDelay),
		shutdown.Logger(slogger))
	sd.Add("logger", func(context.Context) error { return logger.Sync() })
	if problem := budgetProblem(cfg); problem != "" {
		logger.Warn(problem) // one line, naming the setting to change
	}
	// GOMEMLIMIT follows the container's limit when it is resized while
	// the service runs (Kubernetes' in-place resize); it logs each change.
	sd.Go("memory limit", func(ctx context.Context) error {
		memlimit.Follow(ctx, memlimit.Logger(slogger))
		return nil
	})

	traces, err := tracing.Setup(ctx, tracing.Config{
		ServiceName:     name,
		ServiceVersion:  ver,
		Logger:          slogger, // "trace export failed", at most once a minute
		ShutdownTimeout: traceFlushTimeout,
	})
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry(metrics.Version(ver), metrics.Revision(commit)) // build_info
	red, err := metrics.Middleware(reg)
	if err != nil {
		return err
	}
	var last lastRuns
	checks := health.New(health.Logger(slogger), health.OnEvent(last.observe))
	sd.OnDrain(checks.Drain) // readiness red from the first moment of the shutdown

	token, err := watchAdminToken(ctx, cfg.adminTokenFile, slogger)
	if err != nil {
		return err
	}
	if token != nil {
		// Closed by its hook after the servers stop, or here when the start
		// fails further down (a second Close does nothing).
		defer token.Close()
		sd.Add("admin token file", func(context.Context) error { return token.Close() })
		// A token file that fails to reload keeps the last good token:
		// worth a warning on /readyz, not taking the instance out.
		checks.AddReadiness("admin token file", token.Check, health.Critical(false))
	}
	// The service's own readiness checks and hooks go here (see orders: a
	// database is a check and a hook that closes the pool).
	routes := newCatalog(products).routes()

	// The first hook to run: the spans of the last requests.
	sd.Add("traces", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, traceFlushTimeout)
		defer cancel()
		if err := traces.Shutdown(ctx); err != nil {
			logger.Warn("traces not flushed", zap.Error(err), zap.Duration("cap", traceFlushTimeout))
		}
		return nil // a lost flush is not a failed shutdown: see "Shutdown" above
	})
	checks.Start(sd.Context())

	errorLog, err := zap.NewStdLogAt(logger, zap.WarnLevel) // net/http's own errors
	if err != nil {
		return err
	}
	traffic := newServer(cfg.httpAddr, cfg, errorLog)
	// The write timeout stays above the request deadline, which ends a
	// request first and leaves its handler the time to answer.
	traffic.WriteTimeout = max(traffic.WriteTimeout, cfg.requestTimeout+5*time.Second)
	// The middlewares, outermost first: the body limit (it hands a copy of
	// the request on, and the telemetry must hold the request the mux
	// fills the route in), tracing, logging, metrics, and the deadline
	// innermost, next to the routes, so that the telemetry records its 504.
	// Admission, inside the telemetry, sheds what the service cannot
	// finish in time (503, logged and counted as "shed").
	deadline := server.Deadline(cfg.requestTimeout)
	admit, err := server.NewAdmission(reg, server.AdmitLogger(slogger))
	if err != nil {
		return err
	}
	traffic.Handler = http.MaxBytesHandler(tracing.Middleware()(logging.Middleware(logger)(red(admit.Middleware(deadline(routes))))), maxBody)
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return err
	}
	if err := serveGRPC(sd, cfg.grpcAddr, logger, reg, checks); err != nil {
		return err
	}
	// The traffic port's connections are capped below the descriptor
	// limit, so that a flood of idle keep-alives leaves the admin port the
	// descriptors its probes need.
	sd.Serve(traffic, server.Limit(traffic, ln, 0))

	admin := newServer(cfg.adminAddr, cfg, errorLog)
	// GET /loglevel reads the level, PUT changes it (guarded), and the
	// change is logged.
	admin.Handler = adminMux(sd.Context(), cfg, token, checks, &last, metrics.Handler(reg), logging.LevelHandler(logger, level))
	aln, err := net.Listen("tcp", cfg.adminAddr)
	if err != nil {
		return err
	}
	// The admin port has a small cap of its own, inside the descriptors
	// the traffic port's cap leaves: idle keep-alives there cannot take
	// the probes' descriptors either.
	sd.Serve(admin, server.Limit(admin, aln, server.MaxAdminConns))
	return sd.Wait()
}

// budgetProblem names the setting to change when the settings cannot
// agree, or returns "". Requests longer than the shutdown leaves the
// servers are no problem: the shutdown ends them with a 503 in time for
// the hooks (package shutdown).
func budgetProblem(cfg config) string {
	switch {
	case cfg.drainDelay >= cfg.shutdownTimeout:
		return fmt.Sprintf("SHUTDOWN_DRAIN_DELAY (%v) is not below SHUTDOWN_TIMEOUT (%v): the servers and hooks get no time at a shutdown; raise SHUTDOWN_TIMEOUT", cfg.drainDelay, cfg.shutdownTimeout)
	case cfg.requestTimeout > 0 && cfg.requestTimeout <= maxWork:
		return fmt.Sprintf("HTTP_REQUEST_TIMEOUT (%v) does not exceed GET /work's limit (%v): the longest allowed /work ends in a 504; raise HTTP_REQUEST_TIMEOUT", cfg.requestTimeout, maxWork)
	}
	return ""
}

// newServer is server.New, every timeout set, with net/http's errors on
// the service's log and HTTP_READ_HEADER_TIMEOUT.
func newServer(addr string, cfg config, errorLog *log.Logger) *http.Server {
	srv := server.New(addr, nil)
	srv.ErrorLog = errorLog
	srv.ReadHeaderTimeout = cfg.readHeaderTimeout
	srv.ReadTimeout = max(srv.ReadTimeout, cfg.readHeaderTimeout)
	return srv
}

// The admin port.

// adminMux is the admin port. Open to anyone who can reach the port: the
// probes (the kubelet cannot carry a token), /metrics (Prometheus) and
// reading the log level. Behind the token (server.Guard): changing the
// log level, the checks' failure reasons (/debug/health: error text names
// hosts, users and versions) and, only when switched on, the profiler.
// Keep the port inside the cluster all the same.
func adminMux(stop context.Context, cfg config, token *secrets.File, checks *health.Checker, last *lastRuns, metricsHandler, level http.Handler) http.Handler {
	var current func() string // nil: everything guarded is refused
	if token != nil {
		current = func() string { return token.Value().Reveal() } // a rotated token counts from the next request
	}
	guard := server.Guard(current)
	mux := http.NewServeMux()
	checks.Mount(mux) // /livez /readyz /startupz and /{kind}/{name}
	mux.Handle("GET /metrics", metricsHandler)
	mux.Handle("GET /loglevel", level)
	mux.Handle("PUT /loglevel", guard(level))
	mux.Handle("GET /debug/health", guard(last))
	if cfg.pprof {
		// A profile in progress ends when the shutdown begins (stop).
		mux.Handle("GET /debug/pprof/", guard(server.Profiler(server.StopProfiles(stop))))
	}
	return http.MaxBytesHandler(mux, maxAdminBody)
}

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

// lastRuns keeps the last run of every check, with its error, for
// /debug/health: what the probes withhold.
type lastRuns struct {
	mu   sync.Mutex
	runs map[string]health.Event
}

// observe is the checker's OnEvent hook.
func (l *lastRuns) observe(ev health.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs == nil {
		l.runs = make(map[string]health.Event)
	}
	l.runs[ev.Kind.String()+"/"+ev.Name] = ev
}

// checkRun is one check in the /debug/health body.
type checkRun struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	Time     time.Time `json:"time"`
	Duration string    `json:"duration"`
	Error    string    `json:"error,omitempty"`
}

func (l *lastRuns) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	l.mu.Lock()
	out := make([]checkRun, 0, len(l.runs))
	for _, ev := range l.runs {
		c := checkRun{Name: ev.Name, Kind: ev.Kind.String(), Status: ev.Status.String(), Time: ev.Time.UTC(), Duration: ev.Duration.String()}
		if ev.Err != nil {
			c.Error = ev.Err.Error()
		}
		out = append(out, c)
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b checkRun) int { return strings.Compare(a.Kind+"/"+a.Name, b.Kind+"/"+b.Name) })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string][]checkRun{"checks": out})
}

// The healthcheck subcommand and the build's version.

// healthcheck probes the readiness of the service whose admin port is
// adminAddr, on this host: the "healthcheck" subcommand, for an image's
// HEALTHCHECK, where there is no curl.
func healthcheck(ctx context.Context, adminAddr string) error {
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR %q: %w", adminAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return health.Probe(ctx, "http://"+net.JoinHostPort(host, port)+"/readyz")
}

// buildVersion is the version stamped at build time, else the module
// version, else the VCS revision of a build from a checkout, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "dev"
}

// The settings.

// envReader reads settings from the environment and collects the errors
// of malformed ones, so that the settings read as a list followed by one
// check that names every bad variable, not just the first.
type envReader struct{ errs []error }

// String returns the value of key, or def when it is unset or empty.
func (r *envReader) String(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Duration returns the value of key as a Go duration ("1.5s", "300ms"),
// or def when it is unset or empty; a malformed or negative value is an
// error.
func (r *envReader) Duration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err == nil && d < 0 {
		err = errors.New("negative")
	}
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want a duration such as 5s: %w", key, v, err))
		return def
	}
	return d
}

// Bool returns the value of key as true or false (or 1, 0, and the other
// spellings of strconv.ParseBool), or def when it is unset or empty; a
// typo (PPROF=ture) is an error, not silently false.
func (r *envReader) Bool(key string, def bool) bool {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want true or false", key, v))
		return def
	}
	return b
}

// Err returns the errors of every malformed variable read so far, joined.
func (r *envReader) Err() error { return errors.Join(r.errs...) }
