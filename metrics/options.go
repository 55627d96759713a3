package metrics

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/prodready/prodready/internal/request"
)

// The defaults, in one place.
const (
	// DefaultMaxRoutes is how many distinct routes get series of their own
	// unless MaxRoutes says otherwise. A ServeMux rarely has more patterns;
	// a router that reports raw paths reaches it quickly and folds the rest
	// into "other".
	DefaultMaxRoutes = 100
	// DefaultMaxHosts is how many distinct hosts the client Transport labels
	// before it folds the rest into "other".
	DefaultMaxHosts = 50

	// nativeBucketFactor 1.1 gives schema 3: each bucket at most 9% wider
	// than the one before, precise enough for p99 without classic buckets.
	nativeBucketFactor = 1.1
	// nativeMaxBuckets bounds a native histogram's memory; past it the
	// histogram is reset (after nativeMinReset) or loses resolution.
	nativeMaxBuckets = 160
	nativeMinReset   = time.Hour
)

// durationBuckets are OpenTelemetry's boundaries for
// http.server.request.duration, in seconds, so dashboards built for
// otelhttp's histograms work on ours.
func durationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// sizeBuckets run from 64 B to 16 MiB in steps of four.
func sizeBuckets() []float64 { return prometheus.ExponentialBuckets(64, 4, 10) }

type config struct {
	namespace   string
	constLabels prometheus.Labels
	maxRoutes   int
	maxHosts    int
	skip        request.Paths
	log         *slog.Logger
	buckets     []float64
	nativeBF    float64
	exemplars   bool
}

func defaults() config {
	return config{
		maxRoutes: DefaultMaxRoutes,
		maxHosts:  DefaultMaxHosts,
		buckets:   durationBuckets(),
		nativeBF:  nativeBucketFactor,
		exemplars: true,
	}
}

// An Option configures Middleware.
type Option interface{ applyServer(*config) }

// A TransportOption configures Transport.
type TransportOption interface{ applyClient(*config) }

// A SharedOption configures Middleware and Transport alike.
type SharedOption interface {
	Option
	TransportOption
}

type serverOption func(*config)

func (f serverOption) applyServer(c *config) { f(c) }

type clientOption func(*config)

func (f clientOption) applyClient(c *config) { f(c) }

type sharedOption func(*config)

func (f sharedOption) applyServer(c *config) { f(c) }
func (f sharedOption) applyClient(c *config) { f(c) }

// Namespace prefixes every metric name: Namespace("shop") gives
// shop_http_requests_total.
func Namespace(ns string) SharedOption {
	return sharedOption(func(c *config) { c.namespace = ns })
}

// ConstLabels adds labels with fixed values to every series. They must not
// be method, route, code, error_type or host.
func ConstLabels(l prometheus.Labels) SharedOption {
	return sharedOption(func(c *config) {
		c.constLabels = make(prometheus.Labels, len(l))
		for k, v := range l {
			c.constLabels[k] = v
		}
	})
}

// MaxRoutes sets how many distinct routes get series of their own; later
// ones are counted under the route "other". "unmatched" and "other" do not
// count towards n. n must be at least 1.
func MaxRoutes(n int) Option {
	return serverOption(func(c *config) { c.maxRoutes = n })
}

// MaxHosts sets how many distinct hosts Transport labels; later ones are
// counted under the host "other". n must be at least 1.
func MaxHosts(n int) TransportOption {
	return clientOption(func(c *config) { c.maxHosts = n })
}

// SkipPaths leaves requests for these exact URL paths uncounted: probes and
// the /metrics endpoint itself, typically.
func SkipPaths(paths ...string) Option {
	return serverOption(func(c *config) { c.skip = c.skip.Add(paths...) })
}

// Logger sets where the middleware's own lines go (the warning about a
// route that did not reach it, a panic no access line recorded) when
// prodready's logging middleware is not in the stack; with it, they go
// to the logging middleware's logger. nil means slog.Default().
func Logger(l *slog.Logger) Option {
	return serverOption(func(c *config) { c.log = l })
}

// Buckets replaces the classic buckets of http_request_duration_seconds and
// http_client_request_duration_seconds (seconds, increasing).
func Buckets(b ...float64) SharedOption {
	return sharedOption(func(c *config) { c.buckets = append([]float64(nil), b...) })
}

// NativeHistogramFactor sets the growth factor between neighbouring buckets
// of the native histograms (default 1.1). A factor of 1 or less turns the
// native histograms off and leaves only the classic buckets.
func NativeHistogramFactor(f float64) SharedOption {
	return sharedOption(func(c *config) { c.nativeBF = f })
}

// Exemplars sets whether duration observations of sampled requests carry
// trace_id and span_id exemplars (default true).
func Exemplars(on bool) SharedOption {
	return sharedOption(func(c *config) { c.exemplars = on })
}

type registryConfig struct {
	version  string
	revision string
	rules    []collectors.GoRuntimeMetricsRule
}

// RegistryOption configures NewRegistry.
type RegistryOption interface{ apply(*registryConfig) }

type registryOptionFunc func(*registryConfig)

func (f registryOptionFunc) apply(c *registryConfig) { f(c) }

// Version sets the version label of build_info, for binaries whose
// version comes from -ldflags rather than the module version.
func Version(v string) RegistryOption {
	return registryOptionFunc(func(c *registryConfig) { c.version = v })
}

// Revision sets the revision label of build_info, for binaries whose
// commit comes from -ldflags: a container build has no VCS information for
// Go to stamp. Empty keeps the revision Go recorded, or "unknown".
func Revision(rev string) RegistryOption {
	return registryOptionFunc(func(c *registryConfig) { c.revision = rev })
}

// RuntimeMetrics exposes more runtime/metrics series from the Go collector,
// on top of the defaults (see NewRegistry), e.g. collectors.MetricsGC.
func RuntimeMetrics(rules ...collectors.GoRuntimeMetricsRule) RegistryOption {
	return registryOptionFunc(func(c *registryConfig) { c.rules = append(c.rules, rules...) })
}
