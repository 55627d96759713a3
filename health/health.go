package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Check reports whether one dependency or property is healthy: nil means
// it is. It must return when ctx is done; the Checker gives it a deadline
// (see Timeout) and reports it failed once that passes, whether it returns
// or not.
type Check func(ctx context.Context) error

// Kind says which question a check answers.
type Kind uint8

const (
	// Liveness asks: would restarting the process help? Keep these few
	// and about the process itself, never about its dependencies.
	Liveness Kind = iota
	// Readiness asks: may traffic come here now?
	Readiness
	// Startup asks: has the process finished booting?
	Startup

	kinds = 3
)

// String returns "liveness", "readiness" or "startup".
func (k Kind) String() string {
	if k < kinds {
		return [...]string{"liveness", "readiness", "startup"}[k]
	}
	return "unknown"
}

// Status is the state of a check or of a whole probe. Its zero value means
// no result yet.
type Status uint8

const (
	// Pass: healthy. HTTP 200.
	Pass Status = iota + 1
	// Warn: a non-critical check is failing. Still HTTP 200.
	Warn
	// Fail: HTTP 503.
	Fail
)

// String returns "pass", "warn" or "fail" (the IETF health-check draft's
// words), and "unknown" for the zero Status.
func (s Status) String() string {
	if s >= Pass && s <= Fail {
		return [...]string{"pass", "warn", "fail"}[s-Pass]
	}
	return "unknown"
}

// Errors a check can fail with besides its own.
var (
	// ErrTimeout: the check did not return within its Timeout.
	ErrTimeout = errors.New("health: check timed out")
	// ErrPanic: the check panicked; the error text carries the value.
	ErrPanic = errors.New("health: check panicked")
	// ErrInvalidCheck: the check was registered with a nil function or a
	// name that cannot be addressed (empty, or containing '/' or ',').
	// It is kept, failing, so that the mistake shows instead of vanishing.
	ErrInvalidCheck = errors.New("health: invalid check")
	// ErrStatus: an HTTP endpoint (HTTPGet, Probe) answered outside 2xx.
	ErrStatus = errors.New("health: unexpected HTTP status")
)

// Event is what the OnEvent hook receives after each run of a check.
type Event struct {
	Name string
	Kind Kind
	// Status is what the check now counts as, after Critical and
	// FailureThreshold are applied: a failed run below the threshold
	// still counts as Pass.
	Status Status
	// Previous is Status before this run; zero before the first result.
	Previous Status
	// Time is when the run ended (or timed out); Duration how long it took.
	Time     time.Time
	Duration time.Duration
	// Err is the run's own error: nil when it passed; wraps ErrTimeout or
	// ErrPanic for those failures.
	Err error
}

// Checker holds the liveness, readiness and startup checks of a process
// and serves them over HTTP. Register checks before or after Start, from
// any goroutine; probes may run concurrently with registration.
//
// The zero value is ready to use and behaves like New(): it hides failure
// reasons from response bodies and logs to slog.Default().
type Checker struct {
	show    bool
	onEvent func(Event)
	logger  *slog.Logger // nil: slog.Default(), looked up when logging

	draining atomic.Bool
	status   notifier // wakes Changed's callers

	mu sync.Mutex
	// checks holds, per Kind, the registered checks sorted by name. A
	// slice is replaced, never changed in place, so a probe may range
	// over the one it got after releasing mu.
	checks   [kinds][]*check
	startCtx context.Context
}

// New returns a Checker. By default failure reasons are withheld from
// response bodies and each change of a check's status is logged to
// slog.Default(); see ShowReasons, Logger and OnEvent.
func New(opts ...Option) *Checker {
	c := &Checker{}
	for _, o := range opts {
		o.apply(c)
	}
	return c
}

// AddLiveness registers a liveness check under name, replacing any
// liveness check of that name. A liveness check that has not run yet
// counts as passing.
func (c *Checker) AddLiveness(name string, check Check, opts ...CheckOption) {
	c.add(Liveness, name, check, opts)
}

// AddReadiness registers a readiness check under name, replacing any
// readiness check of that name. Until it has passed once it counts as
// failing (or as warn when not Critical), so a service is never reported
// ready before the first real result.
func (c *Checker) AddReadiness(name string, check Check, opts ...CheckOption) {
	c.add(Readiness, name, check, opts)
}

// AddStartup registers a startup check under name, replacing any startup
// check of that name. Like a readiness check it fails until it has passed
// once.
func (c *Checker) AddStartup(name string, check Check, opts ...CheckOption) {
	c.add(Startup, name, check, opts)
}

func (c *Checker) add(kind Kind, name string, fn Check, opts []CheckOption) {
	ch := &check{name: name, kind: kind, fn: fn, timeout: defaultTimeout, critical: true, threshold: 1, owner: c}
	for _, o := range opts {
		o.apply(ch)
	}
	switch {
	case fn == nil:
		ch.fn = failWith(ErrInvalidCheck, "nil function")
	case name == "" || strings.ContainsAny(name, "/,"): // unaddressable in a path or ?exclude=
		ch.fn = failWith(ErrInvalidCheck, "name must be non-empty, without '/' or ','")
	}
	ch.last = result{status: ch.status()}

	c.mu.Lock()
	defer c.mu.Unlock()
	next := slices.Clone(c.checks[kind])
	i, found := slices.BinarySearchFunc(next, name, byName)
	if found {
		if next[i].stop != nil {
			next[i].stop()
		}
		next[i] = ch
	} else {
		next = slices.Insert(next, i, ch)
	}
	c.checks[kind] = next
	if ch.interval > 0 && c.startCtx != nil {
		ch.launch(c.startCtx)
	}
	if kind == Readiness {
		c.status.notify()
	}
}

func byName(ch *check, name string) int { return strings.Compare(ch.name, name) }

func failWith(sentinel error, why string) Check {
	err := fmt.Errorf("%w: %s", sentinel, why)
	return func(context.Context) error { return err }
}

// Start runs the Interval checks in the background, each at once and then
// every interval, until ctx ends; checks registered later start as they
// are added. Before Start, Interval checks have no result (readiness and
// startup fail). Start returns at once; calling it again does nothing.
func (c *Checker) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.startCtx != nil {
		return
	}
	c.startCtx = ctx
	for _, list := range c.checks {
		for _, ch := range list {
			if ch.interval > 0 {
				ch.launch(ctx)
			}
		}
	}
}

// Drain makes readiness fail from now on, without running its checks: the
// process is shutting down and load balancers should stop sending
// traffic. Liveness and startup are unaffected. It is safe to call more
// than once and from any goroutine; it fits shutdown's OnDrain as is.
func (c *Checker) Drain() {
	if !c.draining.Swap(true) {
		c.status.notify()
	}
}

// list returns the checks of kind, sorted by name.
func (c *Checker) list(kind Kind) []*check {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checks[kind]
}

// observe hands a finished run to the OnEvent hook and the logger, which
// hears of changes of status and of new failure reasons only.
func (c *Checker) observe(ev Event, prevErr error) {
	if c.onEvent != nil {
		c.onEvent(ev)
	}
	changed := ev.Status != ev.Previous
	if changed && ev.Kind == Readiness {
		c.status.notify()
	}
	newReason := ev.Err != nil && (prevErr == nil || prevErr.Error() != ev.Err.Error())
	if !changed && !newReason {
		return
	}
	level, msg := slog.LevelInfo, "health check passing"
	if ev.Err != nil {
		level, msg = slog.LevelWarn, "health check failed"
	}
	attrs := []slog.Attr{
		slog.String("check", ev.Name),
		slog.String("kind", ev.Kind.String()),
		slog.String("status", ev.Status.String()),
		slog.String("previous", ev.Previous.String()),
		slog.Duration("duration", ev.Duration),
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	logger := c.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(context.Background(), level, msg, attrs...)
}
