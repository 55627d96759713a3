package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	skip        map[string]struct{}
	routeFunc   func(*http.Request) string
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

// Option configures Middleware and Transport.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Namespace prefixes every metric name: Namespace("shop") gives
// shop_http_requests_total.
func Namespace(ns string) Option {
	return optionFunc(func(c *config) { c.namespace = ns })
}

// ConstLabels adds labels with fixed values to every series. They must not
// be method, route, code, error_type or host.
func ConstLabels(l prometheus.Labels) Option {
	return optionFunc(func(c *config) {
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
	return optionFunc(func(c *config) { c.maxRoutes = n })
}

// MaxHosts sets how many distinct hosts the client Transport labels; later
// ones are counted under the host "other". n must be at least 1.
func MaxHosts(n int) Option {
	return optionFunc(func(c *config) { c.maxHosts = n })
}

// SkipPaths leaves requests for these exact URL paths uncounted: probes and
// the /metrics endpoint itself, typically.
func SkipPaths(paths ...string) Option {
	return optionFunc(func(c *config) {
		if c.skip == nil {
			c.skip = make(map[string]struct{}, len(paths))
		}
		for _, p := range paths {
			c.skip[p] = struct{}{}
		}
	})
}

// RouteFunc names the route of a request that reached no ServeMux pattern
// and no Route wrapper, for routers that keep the template elsewhere. It
// runs after the handler returns, when the first of prodready's
// middlewares finishes, so the access log and the span get its route too;
// an empty result means unmatched. For chi:
//
//	metrics.RouteFunc(func(r *http.Request) string {
//		return chi.RouteContext(r.Context()).RoutePattern()
//	})
func RouteFunc(fn func(*http.Request) string) Option {
	return optionFunc(func(c *config) { c.routeFunc = fn })
}

// Buckets replaces the classic buckets of http_request_duration_seconds and
// http_client_request_duration_seconds (seconds, increasing).
func Buckets(b ...float64) Option {
	return optionFunc(func(c *config) { c.buckets = append([]float64(nil), b...) })
}

// NativeHistogramFactor sets the growth factor between neighbouring buckets
// of the native histograms (default 1.1). A factor of 1 or less turns the
// native histograms off and leaves only the classic buckets.
func NativeHistogramFactor(f float64) Option {
	return optionFunc(func(c *config) { c.nativeBF = f })
}

// Exemplars sets whether duration observations of sampled requests carry
// trace_id and span_id exemplars (default true).
func Exemplars(on bool) Option {
	return optionFunc(func(c *config) { c.exemplars = on })
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
