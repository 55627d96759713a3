package health

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"
)

// nopWriter is a ResponseWriter that keeps nothing, so that the benchmark
// counts the Checker's allocations only (benchmarks/health_test.go uses
// httptest.ResponseRecorder, beside the competitors).
type nopWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }
func (w *nopWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// BenchmarkReadyz: one GET /readyz with three passing checks, read from the
// Interval cache and run on demand.
func BenchmarkReadyz(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []CheckOption
	}{
		{"cached", []CheckOption{Interval(time.Hour)}},
		{"on-demand", nil},
	} {
		b.Run(mode.name, func(b *testing.B) {
			c := New(Logger(nil))
			for _, n := range []string{"cache", "db", "search"} {
				c.AddReadiness(n, func(context.Context) error { return nil }, mode.opts...)
			}
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			c.Start(ctx)
			h := c.Handler(Readiness)
			r := httptest.NewRequest(http.MethodGet, "/readyz", nil)
			w := &nopWriter{h: http.Header{}}
			for h.ServeHTTP(w, r); w.code != http.StatusOK; h.ServeHTTP(w, r) {
				time.Sleep(time.Millisecond) // the first Interval runs are in flight
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
			if w.code != http.StatusOK {
				b.Fatalf("code %d", w.code)
			}
		})
	}
}

// A probe allocates once, for the runs of the on-demand checks it starts
// (each is the context its check receives and may outlive the probe), and
// nothing else: its waiter, the checks' timers and the response buffer are
// reused, and a run's Done channel is made only if the check asks. Under
// -race sync.Pool drops some of what it is given, so a probe may make one
// waiter more.
func TestProbeAllocs(t *testing.T) {
	tests := []struct {
		name string
		opts []CheckOption
		want float64
	}{
		{"cached", []CheckOption{Interval(time.Hour)}, 0},
		{"on-demand", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := New(Logger(nil))
				for _, n := range []string{"cache", "db", "search"} {
					c.AddReadiness(n, func(context.Context) error { return nil }, tt.opts...)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				c.Start(ctx)
				synctest.Wait()
				h := c.Handler(Readiness)
				r := httptest.NewRequest(http.MethodGet, "/readyz", nil)
				w := &nopWriter{h: http.Header{}}
				got := testing.AllocsPerRun(100, func() {
					clear(w.h)
					h.ServeHTTP(w, r)
				})
				if w.code != http.StatusOK {
					t.Fatalf("code %d", w.code)
				}
				if limit := tt.want + raceSlack - 1; got > limit {
					t.Errorf("%v allocations per probe, want <= %v", got, limit)
				}
			})
		})
	}
}
