package metrics

import (
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/prodready/prodready/internal/buildinfo"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a new registry, not the default one, holding:
//
//   - the Go collector: the classic go_* series, plus from runtime/metrics
//     the scheduler latency histogram (go_sched_latencies_seconds, the first
//     sign of CPU starvation) and the time spent waiting on mutexes;
//   - the process collector: CPU, memory, file descriptors, start time;
//   - build_info, constant 1, labelled with the main module's path and
//     version (or Version), the VCS revision (or Revision) and its time,
//     whether the tree was modified, and the Go version (goversion).
func NewRegistry(opts ...RegistryOption) *prometheus.Registry {
	var cfg registryConfig
	for _, o := range opts {
		o.apply(&cfg)
	}
	rules := append([]collectors.GoRuntimeMetricsRule{
		{Matcher: regexp.MustCompile(`^/sched/latencies:seconds$`)},
		{Matcher: regexp.MustCompile(`^/sync/mutex/wait/total:seconds$`)},
	}, cfg.rules...)
	reg := prometheus.NewRegistry()
	// These three cannot clash on a fresh registry; a failure here would be
	// a bug in this package, not a condition a caller could handle.
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(rules...)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(cfg.version, cfg.revision),
	)
	return reg
}

// buildInfo describes the running binary from debug.ReadBuildInfo.
// collectors.NewBuildInfoCollector has the module version and checksum but
// no VCS revision or Go version, which are what a rollout dashboard needs.
func buildInfo(version, revision string) prometheus.Collector {
	l := prometheus.Labels{
		"path": "unknown", "version": "unknown", "revision": "unknown",
		"revision_time": "unknown", "modified": "unknown", "goversion": runtime.Version(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		setIf(l, "path", bi.Main.Path)
		setIf(l, "version", bi.Main.Version)
		setIf(l, "goversion", bi.GoVersion)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				setIf(l, "revision", s.Value)
			case "vcs.time":
				setIf(l, "revision_time", s.Value)
			case "vcs.modified":
				setIf(l, "modified", s.Value)
			}
		}
	}
	// The same version and revision the log lines and the trace resource
	// carry, unless the options say otherwise.
	setIf(l, "version", buildinfo.Version())
	setIf(l, "revision", buildinfo.Revision())
	setIf(l, "version", version)
	setIf(l, "revision", revision)
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "build_info",
		Help:        "Always 1; the labels describe the running binary.",
		ConstLabels: l,
	})
	g.Set(1)
	return g
}

func setIf(l prometheus.Labels, k, v string) {
	if v != "" {
		l[k] = v
	}
}

// Handler serves the metrics gathered by g. It offers OpenMetrics to
// scrapers that ask for it (Prometheus does), which is the only format that
// carries exemplars, and falls back to the classic text format otherwise.
// A collector that fails makes the scrape fail with 500, so that the
// failure shows as up == 0 rather than as silently missing series.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true})
}
