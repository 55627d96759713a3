// Command orders is the realistic prodready service: orders stored in
// PostgreSQL, products looked up in catalog, the database password read
// from a file that may change while it runs. Its wiring is catalog's
// (examples/catalog/main.go, the recipe to copy) plus the database's
// lines, marked "orders:" below.
//
//	orders migrate       # create the schema; run once per release, not at every start
//	orders               # serve :8081, admin on :9090
//	orders healthcheck   # exit 0 when ready: Docker's HEALTHCHECK
//
// # Settings
//
// Everything comes from the environment; unset or empty means the default
// in parentheses, and a malformed value stops the start with an error that
// names every bad variable:
//
//   - HTTP_ADDR (:8081): the traffic port.
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
//     what a request waits on ends then, and it is answered with a JSON
//     504; the write timeout is kept 5s above it.
//   - ADMIN_TOKEN_FILE (none): the file holding the bearer token for PUT
//     /loglevel, /debug/health and /debug/pprof/, watched, so a rotated
//     token needs no restart; unset or without a valid token they are
//     refused.
//   - PPROF (false): serve /debug/pprof/ on the admin port, behind the
//     token.
//   - DATABASE_URL (postgres://orders@localhost:5432/orders?sslmode=disable):
//     where the database is, without the password.
//   - DATABASE_PASSWORD_FILE (none): the file holding the role's password,
//     watched: new connections use the current password. Printable text,
//     at most 1 KiB, that SASLprep leaves as it is (no ligature,
//     compatibility form or invisible character).
//   - DATABASE_QUERY_TIMEOUT (5s): the most one statement may take, the
//     wait for a pooled connection and the dial included; a database that
//     hangs gets a JSON 503 then.
//   - CATALOG_URL (http://localhost:8080): catalog's traffic port.
//   - CATALOG_GRPC_ADDR (none): catalog's gRPC address (host:port); when
//     set, products are looked up with catalog.v1.Catalog/GetProduct
//     instead of GET CATALOG_URL/products/{id}.
//   - CATALOG_READY_URL (http://localhost:9090/readyz): catalog's
//     readiness, a warning check of orders: without catalog, POST /orders
//     fails fast and the rest serves.
//   - HEALTH_CHECK_INTERVAL (5s): how often the readiness checks of
//     Postgres and catalog run.
//   - HEALTH_CHECK_TIMEOUT (1s): how long one of those checks may take.
//   - LOG_LEVEL (info): read by logging.New; changed at run time with PUT
//     /loglevel.
//   - OTEL_*: the standard OpenTelemetry variables, read by tracing.Setup;
//     with none set, no span is exported.
//
// # Idempotency keys
//
// POST /orders takes an Idempotency-Key header (the IETF httpapi draft):
// a retry with the same key and body gets the order the first attempt
// created (201, "Idempotent-Replayed: true"), or creates it when the
// first did not; never a second order. The same key with another body is
// 422; a retry while the first attempt still runs is 409. A 503 or 504
// whose order may have been stored all the same (the database froze or
// dropped the connection after receiving the INSERT) says so, and to
// retry with the same key; its log line says "the order may exist". Keys
// are kept 24 hours, then purged (hourly, in bounded batches); a key
// reused after that is a new order. Without a key, every POST is a new
// order.
//
// # Shutdown
//
// As catalog's (see its package comment): SIGTERM, SIGINT and SIGHUP drain
// and stop; the hooks then run last added first: the trace flush, capped
// at 2s and only a warning when it fails ("traces not flushed"), the
// Postgres pool with its password file, the admin token file, the log
// sync. A dead collector costs two seconds and the exit status stays 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/internal/env"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/memlimit"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/secrets"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/shutdown"
	"github.com/prodready/prodready/tracing"
)

const name = "orders"

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// config is orders' own settings, beside the edge's (server.Config).
type config struct {
	databaseURL     string
	passwordFile    string
	catalogURL      string
	catalogGRPC     string
	catalogReadyURL string
	queryTimeout    time.Duration
	checkInterval   time.Duration
	checkTimeout    time.Duration
}

func run(ctx context.Context, args []string) error {
	edge, err := server.FromEnv(":8081")
	var e env.Reader
	cfg := config{
		databaseURL:     e.String("DATABASE_URL", "postgres://orders@localhost:5432/orders?sslmode=disable"),
		passwordFile:    e.String("DATABASE_PASSWORD_FILE", ""),
		catalogURL:      e.String("CATALOG_URL", "http://localhost:8080"),
		catalogGRPC:     e.String("CATALOG_GRPC_ADDR", ""),
		catalogReadyURL: e.String("CATALOG_READY_URL", "http://localhost:9090/readyz"),
		queryTimeout:    e.Duration("DATABASE_QUERY_TIMEOUT", 5*time.Second),
		checkInterval:   e.Duration("HEALTH_CHECK_INTERVAL", 5*time.Second),
		checkTimeout:    e.Duration("HEALTH_CHECK_TIMEOUT", time.Second),
	}
	if err := errors.Join(err, e.Err()); err != nil {
		return err
	}
	switch {
	case len(args) == 0:
		return serve(ctx, edge, cfg)
	case len(args) == 1 && args[0] == "migrate":
		return migrate(ctx, cfg)
	case len(args) == 1 && args[0] == "healthcheck": // Docker's HEALTHCHECK, where there is no curl
		return health.Probe(ctx, edge.AdminURL("/readyz"))
	default:
		return fmt.Errorf("unknown arguments %q; usage: %s [migrate|healthcheck]", args, name)
	}
}

// traceFlushTimeout caps the final trace flush, below the shutdown's cap
// for one hook (shutdown.HookTimeout, 5s).
const traceFlushTimeout = 2 * time.Second

// serve is catalog's serve, with orders' database, catalog client and
// checks where catalog says "the service's own readiness checks and hooks
// go here".
func serve(ctx context.Context, edge server.Config, cfg config) error {
	logger, level, err := logging.New(logging.Config{Service: name, Buffer: &logging.Buffer{}}) // batched writes, as catalog's
	if err != nil {
		return err
	}
	// The shutdown's last lines ("hook done" of its "logger" hook, "shutdown
	// done") are logged after that hook's Sync: out with them on return.
	defer func() { _ = logger.Sync() }()
	slogger := logging.Slog(logger)
	mem := memlimit.Apply()
	logger.Info("starting", zap.String("http_addr", edge.Addr), zap.String("admin_addr", edge.AdminAddr),
		zap.Bool("admin_token", edge.AdminTokenFile != ""),
		zap.Bool("pprof", edge.Pprof), zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)),
		zap.Int64("memory_limit", mem.Limit), zap.String("memory_limit_source", string(mem.Source)),
		zap.Int64("memory_limit_cgroup", mem.Cgroup), zap.Int("max_conns", server.DefaultMaxConns()))

	sd := shutdown.New(shutdown.Timeout(edge.ShutdownTimeout), shutdown.DrainDelay(edge.DrainDelay), shutdown.Logger(slogger))
	sd.Add("logger", func(context.Context) error { return logger.Sync() })
	if problem := edge.BudgetProblem(); problem != "" {
		logger.Warn(problem) // one line, naming the setting to change
	}
	sd.Go("memory limit", func(ctx context.Context) error { memlimit.Follow(ctx, memlimit.Logger(slogger)); return nil })
	traces, err := tracing.Setup(ctx, tracing.Config{ServiceName: name,
		Logger: slogger, ShutdownTimeout: traceFlushTimeout})
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	red, err := metrics.Middleware(reg)
	if err != nil {
		return err
	}
	checks := health.New(health.Logger(slogger))
	sd.OnDrain(checks.Drain)

	var token func() string
	if edge.AdminTokenFile != "" {
		f, err := secrets.Watch(ctx, edge.AdminTokenFile, secrets.TrimNewline(true), secrets.MaxSize(4<<10),
			secrets.Validate(server.ValidToken), secrets.WaitForFile(true), secrets.Logger(slogger))
		if err != nil {
			return fmt.Errorf("ADMIN_TOKEN_FILE: %w", err)
		}
		defer f.Close()
		sd.Add("admin token file", func(context.Context) error { return f.Close() })
		checks.AddReadiness("admin token file", f.Check, health.Critical(false))
		token = func() string { return f.Value().Reveal() }
	}

	// orders: the database, opened without waiting for it (readiness says
	// when it answers), closed after the servers stop and the workers end;
	// its expired idempotency keys purged by a worker.
	db, err := openDB(ctx, cfg.databaseURL, cfg.passwordFile, cfg.queryTimeout, logger)
	if err != nil {
		return err
	}
	defer db.Close() // when the start fails further down; a second Close does nothing
	sd.Add("postgres", func(context.Context) error { return db.Close() })
	sd.Go("idempotency key purge", func(ctx context.Context) error {
		return db.purgeKeysEvery(ctx, keyPurgeInterval, logger)
	})
	every := []health.CheckOption{health.Interval(cfg.checkInterval), health.Timeout(cfg.checkTimeout)}
	checks.AddReadiness("postgres", health.PingContext(db), every...)
	// Readiness says whether this instance can serve its traffic, not
	// whether every dependency is up: GET /orders/{id} never calls
	// catalog, and a critical check would take every orders pod out of
	// the Service whenever catalog drains or hangs, turning one service's
	// blip into a total outage. So catalog only warns, and the lookups
	// that need it fail fast while it is down (catalogClient).
	catalog := newCatalogClient(cfg.catalogURL)
	if cfg.catalogGRPC != "" {
		closeConn, err := catalog.dialCatalog(cfg.catalogGRPC)
		if err != nil {
			return err
		}
		sd.Add("catalog gRPC connection", func(context.Context) error { return closeConn() })
	}
	catalogReady := health.HTTPGet(server.NewClient(cfg.checkTimeout), cfg.catalogReadyURL)
	checks.AddReadiness("catalog", catalog.check(catalogReady), append(every, health.Critical(false))...)
	if db.password != nil {
		// A password file that fails to reload keeps the last good value:
		// worth a warning on /readyz, not taking the instance out.
		checks.AddReadiness("database password file", db.password.Check, health.Critical(false))
	}
	routes := newAPI(db, catalog).routes()

	sd.Add("traces", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, traceFlushTimeout)
		defer cancel()
		if err := traces.Shutdown(ctx); err != nil {
			logger.Warn("traces not flushed", zap.Error(err), zap.Duration("cap", traceFlushTimeout))
		}
		return nil
	})

	if edge.ErrorLog, err = zap.NewStdLogAt(logger, zap.WarnLevel); err != nil {
		return err
	}
	lns, err := server.Listen(edge.Addr, edge.AdminAddr) // both ports or neither
	if err != nil {
		return err
	}
	checks.Start(sd.Context()) // the checks run from here: nothing is left to fail the start
	traffic := edge.Traffic(routes, tracing.Middleware(), logging.Middleware(logger), red)
	sd.Serve(traffic, server.Limit(traffic, lns[0], 0))
	admin := edge.AdminServer(server.Admin(server.AdminConfig{
		Health: checks.Mount, Metrics: metrics.Handler(reg), LogLevel: logging.LevelHandler(logger, level),
		Details: checks.Details(), Token: token, Pprof: edge.Pprof, Stop: sd.Context(),
	}))
	sd.Serve(admin, server.Limit(admin, lns[1], server.MaxAdminConns))
	return sd.Wait()
}

// migrate creates the schema and exits.
func migrate(ctx context.Context, cfg config) error {
	logger, _, err := logging.New(logging.Config{Service: name})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := openDB(ctx, cfg.databaseURL, cfg.passwordFile, 0, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.migrate(ctx); err != nil {
		return err
	}
	logger.Info("schema is up to date")
	return nil
}
