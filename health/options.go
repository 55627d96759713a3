package health

import (
	"log/slog"
	"time"
)

// defaultTimeout is a check's deadline unless Timeout says otherwise.
const defaultTimeout = time.Second

// Option configures a Checker.
type Option interface{ apply(*Checker) }

type optionFunc func(*Checker)

func (f optionFunc) apply(c *Checker) { f(c) }

// ShowReasons puts each failing check's error text into response bodies
// (the "output" field) when show is true. The default, false, withholds
// it: error text can name hosts, users and versions. Show it on an admin
// port behind authentication, or read it from the Logger or OnEvent.
func ShowReasons(show bool) Option {
	return optionFunc(func(c *Checker) { c.show = show })
}

// Logger sets where changes of a check's status, and each new failure
// reason, are logged. Without it, and with Logger(nil), the Checker logs
// to slog.Default(), looked up each time it logs. To silence it, pass
// slog.New(slog.DiscardHandler); to log through zap, logging.Slog(logger).
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *Checker) { c.logger = l })
}

// OnEvent calls fn after every run of every check, from the goroutine
// that ran it, with what the run found: export metrics or log transitions
// from here without this package importing a metrics or logging library.
// Probes waiting for the run are answered after fn returns, so fn must be
// quick; it may be called concurrently for different checks.
func OnEvent(fn func(Event)) Option {
	return optionFunc(func(c *Checker) { c.onEvent = fn })
}

// CheckOption configures one check.
type CheckOption interface{ apply(*check) }

type checkOptionFunc func(*check)

func (f checkOptionFunc) apply(c *check) { f(c) }

// Timeout is the check's deadline (default 1s; d <= 0 keeps the default).
// A check still running at its deadline fails with ErrTimeout; its context
// is cancelled, and until it returns no second run of it starts, so a hung
// check holds one goroutine, never one per probe.
func Timeout(d time.Duration) CheckOption {
	return checkOptionFunc(func(c *check) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// Interval runs the check in the background every d once Start is called;
// probes then read its latest result and never wait for it. Without it
// (or with d <= 0) the check runs when probed, and concurrent probes share
// one run.
func Interval(d time.Duration) CheckOption {
	return checkOptionFunc(func(c *check) { c.interval = max(d, 0) })
}

// Critical says whether a failure of the check fails the probe (true, the
// default: HTTP 503) or only warns (false: status "warn", HTTP 200).
func Critical(critical bool) CheckOption {
	return checkOptionFunc(func(c *check) { c.critical = critical })
}

// FailureThreshold is how many consecutive failed runs it takes before a
// check that has passed counts as failing (default 1; n < 1 means 1), so
// that one blip does not pull a pod out of rotation. A readiness or startup
// check that has never passed fails whatever the threshold.
func FailureThreshold(n int) CheckOption {
	return checkOptionFunc(func(c *check) { c.threshold = max(n, 1) })
}
