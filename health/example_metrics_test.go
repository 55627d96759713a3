package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prodready/prodready/health"
)

// Health as metrics: each check's status and the duration of its last run
// as Prometheus gauges, wired in main with plain values (health.Event in,
// GaugeVec out), so that neither package imports the other. The labels are
// the check's name and kind, both fixed in code when the check is
// registered, never taken from a request: there are exactly two series per
// check, whatever the traffic.
//
//	health_check_status{check,kind}           1 pass, 0.5 warn, 0 fail
//	health_check_duration_seconds{check,kind} the last run's duration
//
// Alert on min by (check) (health_check_status{kind="readiness"}) < 1 for
// a failing dependency, and on the duration nearing the check's Timeout
// for one that is getting slow. A check that has not run yet has no
// series.
func ExampleOnEvent_metrics() {
	reg := prometheus.NewRegistry()
	status := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "health_check_status",
		Help: "Status of each health check after its last run: 1 pass, 0.5 warn (a non-critical check failing), 0 fail.",
	}, []string{"check", "kind"})
	duration := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "health_check_duration_seconds",
		Help: "How long the last run of each health check took.",
	}, []string{"check", "kind"})
	reg.MustRegister(status, duration)

	checker := health.New(
		health.Logger(quiet),
		health.OnEvent(func(ev health.Event) {
			labels := prometheus.Labels{"check": ev.Name, "kind": ev.Kind.String()}
			status.With(labels).Set(statusValue(ev.Status))
			duration.With(labels).Set(ev.Duration.Seconds())
		}),
	)
	checker.AddLiveness("loop", func(context.Context) error { return nil })
	checker.AddReadiness("db", func(context.Context) error { return nil })
	checker.AddReadiness("search", func(context.Context) error {
		return errors.New("index not loaded")
	}, health.Critical(false))
	checker.AddReadiness("cache", func(context.Context) error {
		return errors.New("connection refused")
	})

	// Probes run the checks; in production the kubelet sends them.
	mux := http.NewServeMux()
	checker.Mount(mux)
	for _, path := range []string{"/livez", "/readyz"} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}

	families, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			value := fmt.Sprint(m.GetGauge().GetValue())
			if mf.GetName() == "health_check_duration_seconds" {
				value = "(varies)"
			}
			fmt.Printf("%s{check=%q,kind=%q} %s\n", mf.GetName(), m.GetLabel()[0].GetValue(), m.GetLabel()[1].GetValue(), value)
		}
	}
	// Output:
	// health_check_duration_seconds{check="cache",kind="readiness"} (varies)
	// health_check_duration_seconds{check="db",kind="readiness"} (varies)
	// health_check_duration_seconds{check="loop",kind="liveness"} (varies)
	// health_check_duration_seconds{check="search",kind="readiness"} (varies)
	// health_check_status{check="cache",kind="readiness"} 0
	// health_check_status{check="db",kind="readiness"} 1
	// health_check_status{check="loop",kind="liveness"} 1
	// health_check_status{check="search",kind="readiness"} 0.5
}

// statusValue maps a health.Status to the gauge's value; zero (no result
// yet) does not occur in an Event after a run.
func statusValue(s health.Status) float64 {
	switch s {
	case health.Pass:
		return 1
	case health.Warn:
		return 0.5
	default:
		return 0
	}
}
