package memlimit

import (
	"context"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"time"
)

// defaultInterval is how often Follow reads the cgroup limit: a resize is
// in force within this long. Kubernetes' in-place resize and `docker
// update` change the cgroup file at once; reading two or three small
// files every 10 s costs nothing measurable, and the bound, and
// what automemlimit's users ask for, is 30 s.
const defaultInterval = 10 * time.Second

// Option configures Follow.
type Option interface{ apply(*config) }

type config struct {
	interval time.Duration
	logger   *slog.Logger
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Interval sets how often Follow reads the cgroup limit (default 10s).
// Zero or less keeps the default.
func Interval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.interval = d
		}
	})
}

// Logger sets the logger Follow reports a change on (nil or absent:
// slog.Default()).
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// Follow keeps the Go runtime's soft memory limit at 90% of the cgroup
// memory limit while ctx lives: it reads the limit every Interval (10s)
// and, when it changed (Kubernetes' in-place pod resize, `docker update
// --memory`), applies the new share and logs one line, "memory limit
// changed", with the old and the new values. A limit that goes away
// (memory.max back to "max") lifts the runtime's limit as well.
//
// It returns when ctx ends, and at once when there is nothing to follow:
// GOMEMLIMIT is set (the operator decided, as for Apply). It also stops,
// with a warning, when it finds the runtime's limit changed by someone
// else (debug.SetMemoryLimit elsewhere in the program): the program took
// the decision over. Call it after Apply, on a goroutine the program
// owns, such as a shutdown.Manager worker:
//
//	sd.Go("memory limit", func(ctx context.Context) error {
//		memlimit.Follow(ctx, memlimit.Logger(slogger))
//		return nil
//	})
func Follow(ctx context.Context, opts ...Option) {
	cfg := config{interval: defaultInterval}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	follow(ctx, "/", os.Getenv, cfg)
}

func follow(ctx context.Context, root string, getenv func(string) string, cfg config) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	cg, ok := cgroupLimit(root)
	if !ok {
		cg = 0
	}
	t := time.NewTicker(cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, ok := cgroupLimit(root)
		if !ok {
			now = 0
		}
		if now == cg {
			continue
		}
		// The runtime's limit must still be the share of the old limit
		// (or none), else someone else set it since.
		expected := int64(math.MaxInt64)
		if cg > 0 {
			expected = cg / 10 * share
		}
		old := debug.SetMemoryLimit(-1)
		if old != expected {
			cfg.logger.Warn("memory limit not followed: the runtime's limit was changed by the program",
				slog.Int64("limit", old), slog.Int64("cgroup_old", cg), slog.Int64("cgroup_new", now))
			return
		}
		limit := int64(math.MaxInt64)
		if now > 0 {
			limit = now / 10 * share
		}
		debug.SetMemoryLimit(limit)
		cfg.logger.Info("memory limit changed",
			slog.Int64("cgroup_old", cg), slog.Int64("cgroup_new", now),
			slog.Int64("limit_old", old), slog.Int64("limit_new", limit))
		cg = now
	}
}
