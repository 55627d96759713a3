// Command catalog is the minimal prodready service and the one to copy: an
// in-memory product catalogue with JSON logs, traces, RED metrics, health
// probes, a guarded admin port and a graceful shutdown.
//
// This file is the whole wiring, in the order it has to happen, in plain
// code that imports nothing but the standard library, prodready and what
// prodready's API hands back (zap, Prometheus): under 120 lines of code
// (TestWiringIsShort counts them). Copy it, with catalog.go (the
// service's own routes), into a new repository, change the routes, and it
// builds: TestRecipeBuildsAlone does exactly that on every test run.
//
//	go run ./examples/catalog                # serves :8080, admin on :9090
//	curl localhost:8080/products/p1
//	curl localhost:9090/readyz
//	catalog healthcheck                      # exit 0 when ready: Docker's HEALTHCHECK
//
// # Settings
//
// Everything comes from the environment (server.FromEnv reads the edge's
// settings); unset or empty means the default in parentheses, and a
// malformed value stops the start with an error that names every bad
// variable:
//
//   - HTTP_ADDR (:8080): the traffic port.
//   - GRPC_ADDR (:9000): catalog.v1.Catalog over gRPC, plaintext, with
//     grpc.health.v1 and reflection (registerGRPC in catalog.go).
//   - ADMIN_ADDR (:9090): the admin port: /livez, /readyz, /startupz,
//     /metrics, /loglevel and the guarded /debug/ endpoints.
//   - SHUTDOWN_TIMEOUT (25s): the whole budget from SIGTERM to exit, the
//     drain delay included.
//   - SHUTDOWN_DRAIN_DELAY (5s): how long the service serves on with its
//     readiness red after SIGTERM, while load balancers take it out; it
//     counts inside SHUTDOWN_TIMEOUT.
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
// # Version
//
// The log lines, build_info and the trace resource carry the binary's
// version and VCS revision as the go command records them; a build without
// the checkout (a Docker context without .git) stamps them once, as
// examples/Dockerfile does:
//
//	go build -ldflags "-X github.com/prodready/prodready/internal/buildinfo.version=1.4.2 \
//	    -X github.com/prodready/prodready/internal/buildinfo.revision=$(git rev-parse HEAD)"
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
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/grpcx"
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

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := server.FromEnv(":8080")
	if err != nil {
		return err
	}
	switch {
	case len(args) == 0:
		return serve(ctx, cfg)
	case len(args) == 1 && args[0] == "healthcheck": // Docker's HEALTHCHECK, where there is no curl
		return health.Probe(ctx, cfg.AdminURL("/readyz"))
	default:
		return fmt.Errorf("unknown arguments %q; usage: %s [healthcheck]", args, name)
	}
}

// traceFlushTimeout caps the final trace flush, below the shutdown's cap
// for one hook (shutdown.HookTimeout, 5s): see "Shutdown" above.
const traceFlushTimeout = 2 * time.Second

// serve runs the service until a signal and a graceful shutdown, and
// returns nil when everything stopped cleanly. A start that fails returns
// its error at once: nothing serves yet.
func serve(ctx context.Context, cfg server.Config) error {
	// The logger first, so that everything after it can report. Its
	// Buffer batches the access lines into a few writes a second (a write
	// per line was 44% of catalog's CPU under load); what a SIGKILL can
	// lose is the last 100ms of lines, and warnings go out at once.
	logger, level, err := logging.New(logging.Config{Service: name, Buffer: &logging.Buffer{}}) // the binary's version on every line
	if err != nil {
		return err
	}
	// The shutdown's last lines ("hook done" of its "logger" hook, "shutdown
	// done") are logged after that hook's Sync: out with them on return.
	defer func() { _ = logger.Sync() }()
	slogger := logging.Slog(logger) // for the packages that log through log/slog
	// GOMEMLIMIT from the container's memory limit, before the work
	// allocates; the line says what was decided.
	mem := memlimit.Apply()
	logger.Info("starting", zap.String("http_addr", cfg.Addr), zap.String("admin_addr", cfg.AdminAddr),
		zap.Bool("admin_token", cfg.AdminTokenFile != ""), // whether one is configured, never its value
		zap.Bool("pprof", cfg.Pprof), zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)),
		zap.Int64("memory_limit", mem.Limit), zap.String("memory_limit_source", string(mem.Source)),
		zap.Int64("memory_limit_cgroup", mem.Cgroup), zap.Int("max_conns", server.DefaultMaxConns())) // the traffic port's cap

	// The shutdown sequence, before anything it has to stop. Hooks run last
	// added first: the log sync, added first, runs last.
	sd := shutdown.New(shutdown.Timeout(cfg.ShutdownTimeout), shutdown.DrainDelay(cfg.DrainDelay), shutdown.Logger(slogger))
	sd.Add("logger", func(context.Context) error { return logger.Sync() })
	if problem := cmp.Or(cfg.BudgetProblem(), workProblem(cfg.RequestTimeout)); problem != "" {
		logger.Warn(problem) // one line, naming the setting to change
	}
	// GOMEMLIMIT follows the container's limit when it is resized while
	// the service runs (Kubernetes' in-place resize); it logs each change.
	sd.Go("memory limit", func(ctx context.Context) error { memlimit.Follow(ctx, memlimit.Logger(slogger)); return nil })
	traces, err := tracing.Setup(ctx, tracing.Config{ServiceName: name,
		Logger: slogger, ShutdownTimeout: traceFlushTimeout}) // "trace export failed", at most once a minute
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry() // build_info: the binary's version and revision
	red, err := metrics.Middleware(reg)
	if err != nil {
		return err
	}
	checks := health.New(health.Logger(slogger))
	sd.OnDrain(checks.Drain) // readiness red from the first moment of the shutdown

	// The admin token file, watched: a rotated token counts from the next
	// request. Missing or invalid at start, the guarded endpoints stay
	// closed and its check says why until a good token appears; one that
	// turns bad keeps the last good token, a warning on /readyz.
	var token func() string // nil: every guarded endpoint refused
	if cfg.AdminTokenFile != "" {
		f, err := secrets.Watch(ctx, cfg.AdminTokenFile, secrets.TrimNewline(true), secrets.MaxSize(4<<10),
			secrets.Validate(server.ValidToken), secrets.WaitForFile(true), secrets.Logger(slogger))
		if err != nil {
			return fmt.Errorf("ADMIN_TOKEN_FILE: %w", err)
		}
		defer f.Close() // when the start fails further down; a second Close does nothing
		sd.Add("admin token file", func(context.Context) error { return f.Close() })
		checks.AddReadiness("admin token file", f.Check, health.Critical(false))
		token = func() string { return f.Value().Reveal() }
	}
	// The service's own readiness checks and hooks go here (see orders: a
	// database is a check and a hook that closes the pool).
	catalog := newCatalog(products)
	routes := catalog.routes()
	// The same catalogue over gRPC, with grpc.health.v1 answering from the
	// readiness checks (NOT_SERVING from the first moment of the drain);
	// the shutdown ends its open streams and lets unary RPCs finish.
	rpcs, err := grpcx.NewServer(grpcx.Logger(logger), grpcx.Metrics(reg), grpcx.Health(checks))
	if err != nil {
		return err
	}
	catalog.registerGRPC(rpcs)
	// Admission, inside the telemetry, sheds what the service cannot
	// finish in time (503, logged and counted as "shed").
	admit, err := server.NewAdmission(reg, server.AdmitLogger(slogger))
	if err != nil {
		return err
	}

	// The first hook to run: the spans of the last requests.
	sd.Add("traces", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, traceFlushTimeout)
		defer cancel()
		if err := traces.Shutdown(ctx); err != nil {
			logger.Warn("traces not flushed", zap.Error(err), zap.Duration("cap", traceFlushTimeout))
		}
		return nil // a lost flush is not a failed shutdown: see "Shutdown" above
	})

	cfg.ErrorLog, _ = zap.NewStdLogAt(logger, zap.WarnLevel) // net/http's own errors; fails only for a level zap lacks
	// Every port before any server starts: a port in use fails the start
	// with its error, and nothing serves half-started.
	lns, err := server.Listen(cfg.Addr, cfg.AdminAddr, cmp.Or(os.Getenv("GRPC_ADDR"), ":9000"))
	if err != nil {
		return err
	}
	checks.Start(sd.Context()) // the checks run from here: nothing is left to fail the start
	// The traffic port: body limit, tracing, logging, metrics, admission
	// and the request deadline, in that order (server.Config.Traffic says
	// why); its connections capped below the descriptor limit, so that a
	// flood of idle keep-alives leaves the admin port the descriptors its
	// probes need.
	traffic := cfg.Traffic(routes, tracing.Middleware(), logging.Middleware(logger), red, admit.Middleware)
	sd.Serve(traffic, server.Limit(traffic, lns[0], 0))
	// The admin port: a small cap of its own, inside the descriptors the
	// traffic port's cap leaves; a profile in progress ends at the shutdown.
	admin := cfg.AdminServer(server.Admin(server.AdminConfig{
		Health: checks.Mount, Metrics: metrics.Handler(reg), LogLevel: logging.LevelHandler(logger, level),
		Details: checks.Details(), Token: token, Pprof: cfg.Pprof, Stop: sd.Context(),
	}))
	sd.Serve(admin, server.Limit(admin, lns[1], server.MaxAdminConns))
	sd.ServeGRPC(rpcs, lns[2])
	return sd.Wait()
}
