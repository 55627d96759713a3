package shutdown

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// An Option configures a Manager in New.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

var _ Option = optionFunc(nil)

// config holds every setting of a Manager. The defaults live in one place,
// defaults(), which is also what the zero Manager uses.
type config struct {
	timeout      time.Duration
	drainDelay   time.Duration
	hookTimeout  time.Duration
	signals      []os.Signal
	exitOnSecond bool
	logger       *slog.Logger // nil: slog.Default() at the time of logging
	observers    []func(Event)

	// Seams for the tests: signal delivery and process exit.
	notify func(c chan<- os.Signal, sig ...os.Signal)
	stop   func(c chan<- os.Signal)
	exit   func(code int)
}

func defaults() config {
	return config{
		// Under Kubernetes' default 30s grace period, with room for the
		// runtime to flush and exit before SIGKILL.
		timeout: 25 * time.Second,
		// Long enough for endpoint removal to reach kube-proxy and
		// ingress controllers in most clusters.
		drainDelay: 5 * time.Second,
		// A few seconds: enough for a healthy trace flush, pool close or
		// log sync, short enough that one hung on a dead peer leaves the
		// budget to the hooks after it.
		hookTimeout:  5 * time.Second,
		signals:      defaultSignals(),
		exitOnSecond: true,
		notify:       signal.Notify,
		stop:         signal.Stop,
		exit:         os.Exit,
	}
}

// defaultSignals are SIGTERM (Kubernetes, Docker, systemd), SIGINT
// (Ctrl-C) and SIGHUP (the terminal or the session went away; in a
// container nothing sends it to mean "reload"), unless SIGHUP was ignored
// when the process started (nohup): listening to it would undo that.
func defaultSignals() []os.Signal {
	sigs := []os.Signal{syscall.SIGTERM, os.Interrupt}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// Timeout sets the whole budget of a shutdown, counted from the moment it
// begins: drain delay, servers and hooks all fit inside it. Past it servers
// are closed, a hook still running is abandoned and hooks not yet started
// are not run; Wait names each. The default is 25s, under Kubernetes'
// default 30s grace period. A d of zero or less keeps the default.
func Timeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// DrainDelay sets how long servers keep serving after the OnDrain
// callbacks ran (readiness is red) and before they stop, so that load
// balancers and Kubernetes endpoints stop sending traffic first. The
// default is 5s. The delay counts against the Timeout. It is skipped when
// shutdown began with SIGINT (Ctrl-C at a terminal, where no load balancer
// waits) or because a server failed; it applies to every other signal and
// to Trigger. A d of zero or less means no delay.
func DrainDelay(d time.Duration) Option {
	return optionFunc(func(c *config) {
		c.drainDelay = max(d, 0)
	})
}

// HookTimeout sets the most one hook may take, and the most the Manager
// waits for the workers after the servers stopped (default 5s). Each of
// those steps gets the sooner of HookTimeout and an equal share of what
// is left of the budget among the steps still to run, so a hook that hangs
// (a trace flush to a collector that is gone) is abandoned, named as
// stuck, and every hook after it still runs. A hook that finishes early
// leaves its time to the others. A d of zero or less keeps the default.
func HookTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.hookTimeout = d
		}
	})
}

// Signals sets the signals that begin a shutdown, replacing the default
// SIGTERM, SIGINT and SIGHUP. Signals() with none listens to no signal:
// only Trigger, workers and server failures begin a shutdown, and SIGPIPE
// is left to Go's default (see the package documentation).
func Signals(sigs ...os.Signal) Option {
	return optionFunc(func(c *config) {
		c.signals = append([]os.Signal(nil), sigs...)
	})
}

// ExitOnSecondSignal sets what a second signal does while a shutdown runs.
// With true (the default) the process logs one line and exits at once with
// status 128+signal (143 for SIGTERM, 130 for SIGINT): the operator meant
// it. With false the second signal is logged and signal handling goes back
// to Go's default, so a third one ends the process the ordinary way.
func ExitOnSecondSignal(exit bool) Option {
	return optionFunc(func(c *config) {
		c.exitOnSecond = exit
	})
}

// Logger sets where the Manager logs each step of a shutdown ("shutdown
// began", "draining", "servers stopped", "hook failed", ...). The default,
// and what a nil logger means, is slog.Default() at the time of logging;
// the zero Manager logs there too. Pass slog.New(slog.DiscardHandler) for
// silence; to feed zap, pass logging.Slog(logger).
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		c.logger = l
	})
}

// OnEvent adds fn as an observer of each step of a shutdown, for metrics
// or a logger of your own. fn is called synchronously from the Manager's
// goroutines, sometimes from two at once (a server failing while hooks
// run), so it must be quick and safe for concurrent use. OnEvent may be
// given more than once; observers are called in order.
func OnEvent(fn func(Event)) Option {
	return optionFunc(func(c *config) {
		if fn != nil {
			c.observers = append(c.observers, fn)
		}
	})
}
