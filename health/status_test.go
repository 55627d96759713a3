package health

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestReadyFollowsReadyz(t *testing.T) {
	tests := []struct {
		name string
		regs []reg
		want bool
	}{
		{"no checks", nil, true},
		{"passing", []reg{{Readiness, "db", passing, nil}}, true},
		{"failing", []reg{{Readiness, "db", failing, nil}}, false},
		{"non-critical failing", []reg{{Readiness, "cache", failing, []CheckOption{Critical(false)}}}, true},
		{"liveness failing does not count", []reg{{Liveness, "loop", failing, nil}}, true},
		{"panicking", []reg{{Readiness, "db", panicking, nil}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(quiet())
			register(c, tt.regs)
			if got := c.Ready(t.Context()); got != tt.want {
				t.Fatalf("Ready = %v, want %v", got, tt.want)
			}
			code, _ := probe(t, c.Handler(Readiness), "/readyz")
			if (code == 200) != tt.want {
				t.Fatalf("/readyz answered %d while Ready = %v", code, tt.want)
			}
		})
	}
}

func TestReadyHungCheckEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(quiet())
		c.AddReadiness("hung", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, Timeout(5*time.Second))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		if c.Ready(ctx) {
			t.Fatal("Ready = true with a hung check")
		}
		if took := time.Since(start); took != time.Second {
			t.Fatalf("Ready took %v, want the caller's 1s", took)
		}
		time.Sleep(4 * time.Second) // the check's own timeout ends it
		synctest.Wait()
	})
}

func TestChangedOnDrain(t *testing.T) {
	c := New(quiet())
	ch := c.Changed()
	if closed(ch) {
		t.Fatal("Changed closed before anything changed")
	}
	if !c.Ready(t.Context()) {
		t.Fatal("not ready before Drain")
	}
	c.Drain()
	if !closed(ch) {
		t.Fatal("Changed not closed by Drain")
	}
	if c.Ready(t.Context()) {
		t.Fatal("ready after Drain")
	}
	next := c.Changed()
	c.Drain() // a second Drain changes nothing
	if closed(next) {
		t.Fatal("a second Drain closed the next channel")
	}
}

func TestChangedOnIntervalCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var healthy atomic.Bool
		healthy.Store(true)
		c := New(quiet())
		c.AddReadiness("db", func(context.Context) error {
			if healthy.Load() {
				return nil
			}
			return errors.New("down")
		}, Interval(10*time.Second))
		ctx, cancel := context.WithCancel(t.Context())
		defer func() { cancel(); synctest.Wait() }()

		ch := c.Changed()
		c.Start(ctx)
		synctest.Wait()
		if !closed(ch) || !c.Ready(ctx) {
			t.Fatal("the first pass did not close Changed and make the checker ready")
		}

		// Passing again changes nothing: no wake-up.
		ch = c.Changed()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if closed(ch) {
			t.Fatal("Changed closed although the status did not change")
		}

		healthy.Store(false)
		start := time.Now()
		<-ch
		if took := time.Since(start); took != 10*time.Second {
			t.Fatalf("the failure was seen after %v, want the next run 10s later", took)
		}
		if c.Ready(ctx) {
			t.Fatal("Ready = true with a failing Interval check")
		}
	})
}

func TestChangedOnRegistration(t *testing.T) {
	c := New(quiet())
	ch := c.Changed()
	c.AddLiveness("loop", passing)
	if closed(ch) {
		t.Fatal("a liveness check closed Changed")
	}
	c.AddReadiness("db", failing)
	if !closed(ch) {
		t.Fatal("a new readiness check did not close Changed")
	}
}

func TestChangedZeroChecker(t *testing.T) {
	var c Checker
	ch := c.Changed()
	c.Drain()
	if !closed(ch) || c.Ready(t.Context()) {
		t.Fatal("the zero Checker does not report its drain")
	}
}
