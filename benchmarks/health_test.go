package benchmarks_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	alhealth "github.com/alexliesenfeld/health"
	hfhealth "github.com/hellofresh/health-go/v5"

	"github.com/prodready/prodready/health"
)

// The health benchmarks: GET /readyz with three passing no-op checks,
// answered into an httptest.ResponseRecorder, by each library. "cached"
// reads results refreshed in the background (ours: Interval; AL:
// WithPeriodicCheck); "on-demand" runs the checks for every probe (AL:
// WithDisabledCache; hellofresh/health-go only has this mode).

var healthChecks = []string{"cache", "db", "search"}

func nop(context.Context) error { return nil }

func serveReadyz(b *testing.B, h http.Handler) {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	// Wait for the first background runs, outside the timed loop.
	deadline := time.Now().Add(5 * time.Second)
	for {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("never ready: %d %s", w.Code, w.Body)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("code %d", w.Code)
		}
	}
}

func prodreadyHealth(b *testing.B, opts ...health.CheckOption) http.Handler {
	c := health.New(health.Logger(slog.New(slog.DiscardHandler)))
	for _, n := range healthChecks {
		c.AddReadiness(n, nop, opts...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	c.Start(ctx)
	return c.Handler(health.Readiness)
}

func alexliesenfeldHealth(b *testing.B, cached bool) http.Handler {
	opts := []alhealth.CheckerOption{alhealth.WithTimeout(time.Second)}
	for _, n := range healthChecks {
		check := alhealth.Check{Name: n, Check: nop, Timeout: time.Second}
		if cached {
			opts = append(opts, alhealth.WithPeriodicCheck(time.Hour, 0, check))
		} else {
			opts = append(opts, alhealth.WithCheck(check))
		}
	}
	if !cached {
		opts = append(opts, alhealth.WithDisabledCache())
	}
	checker := alhealth.NewChecker(opts...)
	b.Cleanup(checker.Stop)
	return alhealth.NewHandler(checker)
}

func hellofreshHealth(b *testing.B) http.Handler {
	var cfgs []hfhealth.Config
	for _, n := range healthChecks {
		cfgs = append(cfgs, hfhealth.Config{Name: n, Check: nop, Timeout: time.Second})
	}
	h, err := hfhealth.New(hfhealth.WithChecks(cfgs...))
	if err != nil {
		b.Fatal(err)
	}
	return h.Handler()
}

// BenchmarkHealth is the goal "a probe costs no more than
// alexliesenfeld/health's", in both modes, measured in the same run.
func BenchmarkHealth(b *testing.B) {
	b.Run("cached/prodready", func(b *testing.B) {
		serveReadyz(b, prodreadyHealth(b, health.Interval(time.Hour)))
	})
	b.Run("cached/alexliesenfeld", func(b *testing.B) {
		serveReadyz(b, alexliesenfeldHealth(b, true))
	})
	b.Run("on-demand/prodready", func(b *testing.B) {
		serveReadyz(b, prodreadyHealth(b))
	})
	b.Run("on-demand/alexliesenfeld", func(b *testing.B) {
		serveReadyz(b, alexliesenfeldHealth(b, false))
	})
	b.Run("on-demand/hellofresh", func(b *testing.B) {
		serveReadyz(b, hellofreshHealth(b))
	})
}
