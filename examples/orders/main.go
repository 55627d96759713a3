// Command orders is the realistic prodready service: orders stored in
// PostgreSQL, products looked up in catalog, the database password read
// from a file that may change while it runs. Its wiring is
// examples/internal/service, which is examples/catalog/main.go (the recipe
// to copy) made into a function.
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
//   - SHUTDOWN_TIMEOUT (25s): the whole budget from SIGTERM to exit.
//   - SHUTDOWN_DRAIN_DELAY (5s): how long the service serves on with its
//     readiness red after SIGTERM, while load balancers take it out.
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
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prodready/prodready/examples/internal/env"
	"github.com/prodready/prodready/examples/internal/service"
	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/server"
)

// version and commit are stamped at build time, as the Dockerfile does:
// go build -ldflags "-X main.version=1.4.2 -X main.commit=$(git rev-parse HEAD)"
var version, commit string

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

type config struct {
	service.Config
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
	var e env.Reader
	cfg := config{
		Config:          service.FromEnv(&e, "orders", ":8081"),
		databaseURL:     e.String("DATABASE_URL", "postgres://orders@localhost:5432/orders?sslmode=disable"),
		passwordFile:    e.String("DATABASE_PASSWORD_FILE", ""),
		catalogURL:      e.String("CATALOG_URL", "http://localhost:8080"),
		catalogGRPC:     e.String("CATALOG_GRPC_ADDR", ""),
		catalogReadyURL: e.String("CATALOG_READY_URL", "http://localhost:9090/readyz"),
		queryTimeout:    e.Duration("DATABASE_QUERY_TIMEOUT", 5*time.Second),
		checkInterval:   e.Duration("HEALTH_CHECK_INTERVAL", 5*time.Second),
		checkTimeout:    e.Duration("HEALTH_CHECK_TIMEOUT", time.Second),
	}
	if err := e.Err(); err != nil {
		return err
	}
	cfg.Version, cfg.Commit = version, commit
	switch {
	case len(args) == 0:
		return service.Run(ctx, cfg.Config, cfg.routes)
	case len(args) == 1 && args[0] == "migrate":
		return migrate(ctx, cfg)
	case len(args) == 1 && args[0] == "healthcheck":
		return service.Healthcheck(ctx, cfg.AdminAddr)
	default:
		return fmt.Errorf("unknown arguments %q; usage: orders [migrate|healthcheck]", args)
	}
}

// routes opens the database (without waiting for it: readiness says when
// it answers) and builds the API.
func (cfg config) routes(ctx context.Context, s *service.Service) (http.Handler, error) {
	db, err := openDB(ctx, cfg.databaseURL, cfg.passwordFile, cfg.queryTimeout, s.Logger)
	if err != nil {
		return nil, err
	}
	s.Shutdown.Add("postgres", func(context.Context) error { return db.Close() })

	every := []health.CheckOption{health.Interval(cfg.checkInterval), health.Timeout(cfg.checkTimeout)}
	s.Health.AddReadiness("postgres", health.PingContext(db), every...)
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
			return nil, err
		}
		s.Shutdown.Add("catalog gRPC connection", func(context.Context) error { return closeConn() })
	}
	catalogReady := health.HTTPGet(server.NewClient(cfg.checkTimeout), cfg.catalogReadyURL)
	s.Health.AddReadiness("catalog", catalog.check(catalogReady), append(every, health.Critical(false))...)
	if db.password != nil {
		// A password file that fails to reload keeps the last good value:
		// worth a warning on /readyz, not taking the instance out.
		s.Health.AddReadiness("database password file", db.password.Check, health.Critical(false))
	}
	return newAPI(db, catalog).routes(), nil
}

// migrate creates the schema and exits.
func migrate(ctx context.Context, cfg config) error {
	logger, _, err := logging.New(logging.Config{Service: cfg.Name})
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
