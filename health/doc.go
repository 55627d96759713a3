// Package health answers Kubernetes' and load balancers' three questions
// about a process (should it be restarted? may traffic come? has it
// finished booting?) without lying and without piling up.
//
// Health endpoints fail in production in a few well-known ways: they say
// "healthy" before the first real check has run; a probe storm (many
// kubelets, a load balancer, a dashboard) multiplies calls to the database
// behind the check; a check that hangs leaves one goroutine per probe
// behind until the process runs out of memory; the only answer an operator
// gets is "reason withheld". This package is built against each of those.
//
// # Checks
//
// A Check is a func(context.Context) error, so a method of that shape is
// one as it is (pool.Ping of a *pgxpool.Pool). Register it as a liveness,
// readiness or startup check:
//
//	checker := health.New(health.Logger(logger)) // default: slog.Default()
//	checker.AddReadiness("postgres", health.PingContext(db), health.Timeout(2*time.Second))
//	checker.AddReadiness("pool", pool.Ping)
//	checker.AddReadiness("catalog", health.HTTPGet(nil, catalogURL+"/readyz"), health.Critical(false))
//	checker.AddReadiness("cache", health.Dial("tcp", "redis:6379"), health.Interval(10*time.Second))
//	checker.Start(ctx) // runs the Interval checks until ctx ends
//
//	admin := http.NewServeMux()
//	checker.Mount(admin) // GET/HEAD /livez /readyz /startupz and /readyz/{name}
//
// Each run of a check has a deadline (Timeout, default 1s), recovers a
// panic as a failure, and runs in parallel with the other checks of the
// probe. A check runs either when probed, where concurrent probes share
// one run in flight, or every Interval in the background, where probes
// read its latest result and never wait. A check still running at its
// deadline fails at once, and no new run of it starts until it returns:
// a hung check holds one goroutine, however many probes arrive.
//
// Checks run where no span is current, so give HTTPGet a client without
// tracing.Transport (nil makes a plain one): through a traced client each
// run would start a new one-span root trace. Its errors show the URL
// without user-info or query.
//
// # Statuses
//
// A probe's status is the worst of its checks': pass and warn answer 200,
// fail answers 503. A failing check with Critical(false) gives warn.
// FailureThreshold(n) lets a check that has passed fail n-1 times in a row
// before it counts as failing. A readiness or startup check fails until it
// has passed once, so readiness never turns green before the first real
// result; a liveness check counts as passing until it fails. Drain turns
// readiness to fail for good when shutdown begins.
//
// # What readiness means
//
// Readiness says whether this instance can serve its traffic, not whether
// every dependency is up. Make a dependency a critical readiness check only
// when no request can be served without it; give the others Critical(false)
// and let the requests that need them fail fast. A critical check of a
// shared dependency takes every caller's pods out of their Service when that
// dependency drains or hangs, including for requests that never needed it,
// and one service's blip becomes a total outage.
//
// # Responses
//
// Bodies are application/health+json after the IETF health-check draft,
// sent with Cache-Control: no-store:
//
//	{"status":"fail","checks":{"postgres":[{"status":"fail","time":"2025-05-01T10:00:00Z","duration":"1s"}]}}
//
// Failure reasons stay out of bodies unless ShowReasons(true) (error text
// can name hosts and users); they always reach the Logger (slog) and the
// OnEvent hook, which sees every run and from which metrics are exported
// without this package depending on a metrics library. ?exclude=name
// leaves a check out, and /readyz/{name} reports one, as in the
// Kubernetes API server. [Checker.Details] serves every check's last run
// with its error, for a guarded admin endpoint (server.Admin's Details).
//
// # Images without a shell
//
// Probe(ctx, url) GETs a health endpoint and returns nil for 2xx, so a
// binary in a scratch or distroless image can serve as its own Docker
// HEALTHCHECK through a "healthcheck" subcommand.
package health
