// Package service is orders' wiring: the prodready packages put together
// around the handler a service brings, for a service that needs more than
// one main to share it. It is examples/catalog/main.go, the recipe to copy,
// made into a function (Run) with a place for the service's routes, checks
// and hooks (Routes); the two are held to the same behaviour by the
// integration and hardening tests, which run both services through the
// same checks. The settings it reads are documented in each main's package
// comment and the README, held to FromEnv by examples/internal/settings.
//
// # Hardening
//
// Both ports are the server package's: every timeout set
// (HTTP_READ_HEADER_TIMEOUT tunes the one against slowloris), headers
// capped at 16 KiB, bodies at 1 MiB on the traffic port and 4 KiB on the
// admin port. Every request has a deadline (server.Deadline,
// HTTP_REQUEST_TIMEOUT, 40s), the write timeout kept 5s above it, and the
// traffic port's connections are capped below the descriptor limit
// (server.Limit), so a client holding thousands of idle keep-alives cannot
// starve the probes on the admin port. Calls to other services go through
// server.NewClient, never http.DefaultClient.
//
// The admin port keeps what kubelet and Prometheus need open: /livez,
// /readyz, /startupz (failure reasons withheld), /metrics and GET
// /loglevel. What changes the process or tells more (PUT /loglevel,
// /debug/health with each check's error, /debug/pprof/ when PPROF=true)
// needs "Authorization: Bearer <token>" (server.Guard), and is refused
// outright when ADMIN_TOKEN_FILE is unset or does not hold a valid token
// yet. The token is a file, like every secret here, watched with the
// secrets package: a rotated token is the one accepted from the next
// request on, without a restart, and a file that turns bad keeps the last
// good token and shows as the non-critical readiness check "admin token
// file". Do not publish the admin port outside the cluster.
//
// # Shutdown
//
// The trace flush is capped at TraceFlushTimeout (2s), below the shutdown
// package's cap for one hook (5s), and a flush that fails is a logged
// warning ("traces not flushed"), not a failed shutdown: a collector that
// accepts and never answers costs two seconds, the hooks after it (the
// service's own, such as closing the database pool, then the log sync)
// run, and the process exits 0. Any other hook that fails or is stuck
// makes Run return an error.
//
// # Usage
//
//	func run(ctx context.Context) error {
//		var e env.Reader
//		cfg := service.FromEnv(&e, "orders", ":8081")
//		if err := e.Err(); err != nil {
//			return err
//		}
//		return service.Run(ctx, cfg, func(ctx context.Context, s *service.Service) (http.Handler, error) {
//			s.Shutdown.Add("postgres", func(context.Context) error { return db.Close() })
//			mux := http.NewServeMux()
//			mux.HandleFunc("GET /orders/{id}", getOrder)
//			return mux, nil
//		})
//	}
package service

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/examples/internal/env"
	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/memlimit"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/shutdown"
	"github.com/prodready/prodready/tracing"
)

// Config is what every service reads from the environment; each field
// names its variable.
type Config struct {
	Name            string        // service name on log lines, spans and metrics
	HTTPAddr        string        // HTTP_ADDR: the traffic port
	AdminAddr       string        // ADMIN_ADDR: health, /metrics, /loglevel
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: the whole budget after SIGTERM
	DrainDelay      time.Duration // SHUTDOWN_DRAIN_DELAY: serve on, readiness red
	// ReadHeaderTimeout (HTTP_READ_HEADER_TIMEOUT) bounds how long a
	// client may take to send its request headers, on both ports; zero
	// means server.New's.
	ReadHeaderTimeout time.Duration
	// RequestTimeout (HTTP_REQUEST_TIMEOUT) is the request deadline
	// (server.Deadline); the write timeout is kept 5s above it. Zero: no
	// deadline.
	RequestTimeout time.Duration
	// AdminTokenFile (ADMIN_TOKEN_FILE) is the file holding the token
	// that opens the admin port's guarded endpoints (PUT /loglevel,
	// /debug/health, /debug/pprof/) to requests with "Authorization:
	// Bearer <token>": 16 to 1024 visible ASCII bytes, a final newline
	// ignored. It is watched, so a rotated token needs no restart. Empty:
	// the guarded endpoints are closed.
	AdminTokenFile string
	// Pprof (PPROF) serves /debug/pprof/ on the admin port, behind the
	// token.
	Pprof bool

	// Version and Commit are stamped into the binary at build time
	// (-ldflags "-X main.version=… -X main.commit=…"), where a container
	// build has no VCS information. An empty Version falls back to the
	// module version or VCS revision of the build.
	Version, Commit string
}

// FromEnv reads the settings every service has; httpAddr is the service's
// default traffic address. Malformed values are reported by e.Err.
func FromEnv(e *env.Reader, name, httpAddr string) Config {
	return Config{
		Name:            name,
		HTTPAddr:        e.String("HTTP_ADDR", httpAddr),
		AdminAddr:       e.String("ADMIN_ADDR", ":9090"),
		ShutdownTimeout: e.Duration("SHUTDOWN_TIMEOUT", 25*time.Second),
		DrainDelay:      e.Duration("SHUTDOWN_DRAIN_DELAY", 5*time.Second),

		ReadHeaderTimeout: e.Duration("HTTP_READ_HEADER_TIMEOUT", 5*time.Second),
		RequestTimeout:    e.Duration("HTTP_REQUEST_TIMEOUT", 40*time.Second),
		AdminTokenFile:    e.String("ADMIN_TOKEN_FILE", ""),
		Pprof:             e.Bool("PPROF", false),
	}
}

// Service is what a service's routes function gets to work with.
type Service struct {
	Config
	Version string
	Logger  *zap.Logger
	// Health is where the service adds its readiness checks.
	Health *health.Checker
	// Shutdown is where the service adds its hooks: they run after the
	// servers have stopped and the traces are flushed (or given up on
	// after TraceFlushTimeout), before the logger syncs, last added first.
	Shutdown *shutdown.Manager
}

// Routes builds a service's own handler. ctx ends when shutdown begins.
type Routes func(ctx context.Context, s *Service) (http.Handler, error)

// Run runs the service until SIGTERM or SIGINT and a graceful shutdown,
// and returns nil when everything stopped cleanly. A start that fails
// returns its error at once: nothing serves yet.
func Run(ctx context.Context, cfg Config, routes Routes) error {
	version := cfg.Version
	if version == "" {
		version = buildVersion()
	}
	// Buffered: one write(2) for many lines, the access line's largest
	// cost under load. Lines are written within 100ms, at once from a
	// warning on, and at the end of the shutdown (the "logger" hook) or
	// of Run; a SIGKILL or an unrecovered panic on another goroutine loses
	// what is held, at most 32 KiB. Drop Buffer to write each line at once.
	logger, level, err := logging.New(logging.Config{Service: cfg.Name, Version: version, Buffer: &logging.Buffer{}})
	if err != nil {
		return err
	}
	// A start that fails returns its own error; the hook reports a stop's.
	defer func() { _ = logger.Sync() }()
	mem := memlimit.Apply()
	logger.Info("starting",
		zap.String("http_addr", cfg.HTTPAddr),
		zap.String("admin_addr", cfg.AdminAddr),
		zap.Bool("admin_token", cfg.AdminTokenFile != ""),
		zap.Bool("pprof", cfg.Pprof),
		zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)),
		zap.Int64("memory_limit", mem.Limit),
		zap.String("memory_limit_source", string(mem.Source)),
		zap.Int64("memory_limit_cgroup", mem.Cgroup),
		zap.Int("max_conns", server.DefaultMaxConns()), // the traffic port's cap
		zap.String("commit", cfg.Commit))

	sd := shutdown.New(
		shutdown.Timeout(cfg.ShutdownTimeout),
		shutdown.DrainDelay(cfg.DrainDelay),
		shutdown.Logger(logging.Slog(logger)))
	sd.Add("logger", func(context.Context) error { return logger.Sync() })
	if cfg.DrainDelay >= cfg.ShutdownTimeout { // the one setting pair that cannot agree: see package shutdown
		logger.Warn(fmt.Sprintf("SHUTDOWN_DRAIN_DELAY (%v) is not below SHUTDOWN_TIMEOUT (%v): the servers and hooks get no time at a shutdown; raise SHUTDOWN_TIMEOUT", cfg.DrainDelay, cfg.ShutdownTimeout))
	}
	// GOMEMLIMIT follows a container resized while the service runs.
	sd.Go("memory limit", func(ctx context.Context) error {
		memlimit.Follow(ctx, memlimit.Logger(logging.Slog(logger)))
		return nil
	})

	traces, err := tracing.Setup(ctx, tracing.Config{
		ServiceName:     cfg.Name,
		ServiceVersion:  version,
		Logger:          logging.Slog(logger),
		ShutdownTimeout: TraceFlushTimeout,
	})
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry(metrics.Version(version), metrics.Revision(cfg.Commit))
	red, err := metrics.Middleware(reg)
	if err != nil {
		return err
	}
	var last details
	checks := health.New(health.Logger(logging.Slog(logger)), health.OnEvent(last.observe))
	sd.OnDrain(checks.Drain)

	token, err := watchAdminToken(ctx, cfg.AdminTokenFile, logging.Slog(logger))
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

	s := &Service{Config: cfg, Version: version, Logger: logger, Health: checks, Shutdown: sd}
	handler, err := routes(sd.Context(), s)
	if err != nil {
		return err
	}
	// The first hook to run: the spans of the last requests, under a cap of
	// its own; a lost flush is a warning, not a failed shutdown.
	sd.Add("traces", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, TraceFlushTimeout)
		defer cancel()
		if err := traces.Shutdown(ctx); err != nil {
			logger.Warn("traces not flushed", zap.Error(err), zap.Duration("cap", TraceFlushTimeout))
		}
		return nil
	})

	checks.Start(sd.Context())
	errorLog, err := zap.NewStdLogAt(logger, zap.WarnLevel)
	if err != nil {
		return err
	}
	traffic := newServer(cfg.HTTPAddr, cfg.ReadHeaderTimeout, errorLog)
	// The write timeout stays above the request deadline, which ends a
	// request first and leaves its handler the time to answer. The deadline
	// is innermost, next to the mux, so the telemetry records its 504. The
	// body limit goes outermost: it hands a copy of the request on, and our
	// middlewares must hold the request the mux fills the route in.
	traffic.WriteTimeout = max(traffic.WriteTimeout, cfg.RequestTimeout+5*time.Second)
	deadline := server.Deadline(cfg.RequestTimeout)
	traffic.Handler = http.MaxBytesHandler(tracing.Middleware()(logging.Middleware(logger)(red(deadline(handler)))), maxBody)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	// The traffic port's connections are capped below the descriptor
	// limit, so that a flood of idle keep-alives leaves the admin port
	// the descriptors its probes need.
	sd.Serve(traffic, server.Limit(traffic, ln, 0))
	admin := newServer(cfg.AdminAddr, cfg.ReadHeaderTimeout, errorLog)
	admin.Handler = adminMux(sd.Context(), cfg, token, checks, &last, metrics.Handler(reg), logging.LevelHandler(logger, level))
	aln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return err
	}
	// The admin port's own small cap, inside the traffic cap's headroom.
	sd.Serve(admin, server.Limit(admin, aln, server.MaxAdminConns))
	return sd.Wait()
}

// TraceFlushTimeout caps the final trace flush, below the shutdown
// package's cap for one hook (shutdown.HookTimeout, 5s).
const TraceFlushTimeout = 2 * time.Second

// Request body limits: any body on the traffic port, whatever a handler
// forgets (handlers that decode a body set their own, smaller limit:
// orders, 4 KiB), and on the admin port, where a /loglevel change is a few
// bytes of JSON.
const (
	maxBody      = 1 << 20
	maxAdminBody = 4 << 10
)

// newServer is server.New for addr with net/http's own errors on the
// service's log and HTTP_READ_HEADER_TIMEOUT (zero: server.New's).
func newServer(addr string, readHeaderTimeout time.Duration, errorLog *log.Logger) *http.Server {
	srv := server.New(addr, nil)
	srv.ErrorLog = errorLog
	if readHeaderTimeout > 0 {
		srv.ReadHeaderTimeout = readHeaderTimeout
		srv.ReadTimeout = max(srv.ReadTimeout, readHeaderTimeout)
	}
	return srv
}

// Healthcheck probes the readiness of the service whose admin port is
// adminAddr, on this host: the "healthcheck" subcommand, for an image's
// HEALTHCHECK, where there is no curl.
func Healthcheck(ctx context.Context, adminAddr string) error {
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR %q: %w", adminAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return health.Probe(ctx, "http://"+net.JoinHostPort(host, port)+"/readyz")
}

// buildVersion is the module version, or the VCS revision of a build from
// a checkout, or "dev".
func buildVersion() string {
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
