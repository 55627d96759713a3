package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prodready/prodready/internal/adaptive"
	"github.com/prodready/prodready/internal/request"
)

// Admission is the one admission path of a service: every request, HTTP
// or gRPC, asks it for a Permit before any handler work, and is refused at
// once, cheaply, when the service cannot finish it in time, or when the
// heap is close to GOMEMLIMIT. NewAdmission makes one; its Middleware
// serves HTTP (503 with Retry-After) and its Acquire is the hook for
// other transports (package grpcx answers RESOURCE_EXHAUSTED with it).
// One Admission shared by a service's HTTP and gRPC servers keeps one
// limit for the work of both.
//
// # Two limits, one goal
//
// A service overloads in one of two ways, and Admission watches both,
// against one latency goal (LatencyTarget, 50 ms by default):
//
//   - I/O-bound: handlers wait (on a database, another service), so what
//     is in flight grows. An in-flight limit follows the latency of what
//     completes: when the mean is above the goal (or twice the service's
//     unloaded latency, when that is longer) the limit drops to what the
//     service completes within the goal (Little's law: completions per
//     second × goal); when the limit was reached with latency within the
//     goal, it grows. A limit nobody reaches does not grow, and windows
//     with refusals do not move the unloaded latency, so neither a quiet
//     period nor a sustained overload drifts it; it stays within
//     LimitBounds (4 to 10000), never 0. Refusals: ReasonLimit. See
//     internal/adaptive for the rule.
//   - CPU-bound: handlers compute, are not preempted (Go preempts after
//     10 ms), and on a saturated CPU the queue forms in the Go scheduler,
//     before any middleware, where no in-flight count sees it. Admission
//     reads the scheduler's latency (how long goroutines wait to run,
//     runtime/metrics, every few milliseconds, not per request); when it
//     is high, what is admitted beyond GOMAXPROCS waits parked in a queue
//     of Admission's own, so that the scheduler's queue stays short and
//     refusals and probes are answered in milliseconds. That queue is
//     bounded by the goal: a request expected to wait more than twice the
//     goal is refused at once, one that waited three times the goal is
//     dropped before it starts (ReasonQueue), and one whose context ended
//     while it waited is dropped too (ReasonExpired). See runQueue in
//     runqueue.go.
//
// Measured on one core with a handler that burns 2 ms of CPU, open-loop
// arrivals and a 1 s client deadline (BENCHMARKS.md, "Overload"): goodput
// 0.98–1.04 of capacity at 2× and 0.81–0.95 at 5×, where the same stack
// without admission delivered 0.71–0.79 and 0.44–0.52 with /livez over a
// second, and no request refused at 0.8× capacity. Admitting a request
// costs about 200 ns and allocates nothing.
//
// # What is never refused
//
// Requests for the Exempt paths (by default the probe and metrics paths,
// for a service that serves them on its traffic port) pass untouched: they
// are not counted and their latency is not a sample. The admin port is a
// server of its own; do not put Admission on it.
type Admission struct {
	lim    *adaptive.Limiter
	base   time.Time // the zero of the limiter's clock (monotonic)
	log    *slog.Logger
	exempt map[string]struct{}

	rt runtimeSampler
	q  runQueue

	refusals [numReasons]atomic.Uint64
	// The refusal log: the time of the last line (since base) and the
	// counts it reported.
	logMu     sync.Mutex
	lastLog   atomic.Int64
	logged    [numReasons]uint64
	logPeriod time.Duration
}

// Reason says why a request was refused; it is the reason label of
// server_admission_refusals_total.
type Reason uint8

// The reasons.
const (
	// ReasonLimit: the in-flight limit was reached.
	ReasonLimit Reason = iota
	// ReasonQueue: the CPU is saturated (goroutines wait to run) and the
	// request would wait in the admission's queue more than twice the
	// latency goal, or has waited three times it.
	ReasonQueue
	// ReasonMemory: the live heap was above the memory threshold of
	// GOMEMLIMIT.
	ReasonMemory
	// ReasonExpired: the request's context ended (its deadline passed or
	// its client left) before it was admitted or while it waited.
	ReasonExpired
	numReasons
)

var reasonNames = [numReasons]string{"limit", "queue", "memory", "expired"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// ErrRefused is what every refusal of Acquire matches with errors.Is.
var ErrRefused = errors.New("server: request refused")

// Refusal is the error of a refused Acquire.
type Refusal struct {
	Reason Reason
	// RetryAfter is the time after which a retry may be admitted: the
	// Retry-After header of the HTTP answer.
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return "server: request refused: " + r.Reason.String() }

// Is makes a Refusal match ErrRefused.
func (r *Refusal) Is(target error) bool { return target == ErrRefused } //nolint:errorlint // a sentinel

// refusalErrs are the errors Acquire returns, made once: refusing
// allocates nothing.
var refusalErrs = [numReasons]*Refusal{
	{ReasonLimit, retryAfter}, {ReasonQueue, retryAfter}, {ReasonMemory, retryAfter}, {ReasonExpired, retryAfter},
}

// retryAfter is the Retry-After of every refusal: a limit that moved
// reacts within a few windows, and a client that waits a second retries
// into a service that has finished the work it was doing.
const retryAfter = time.Second

// Defaults of NewAdmission that are not the limiter's.
const (
	// defaultMemoryThreshold: refuse when the live heap passes 90% of
	// GOMEMLIMIT, where the garbage collector starts to run back to back.
	defaultMemoryThreshold = 0.9
	// sampleInterval is how often runtime/metrics is read, at most:
	// reading it costs about 1.5 µs, too much per request.
	sampleInterval = 5 * time.Millisecond
	// decideInterval is how often the run queue is revised, at most.
	decideInterval = 20 * time.Millisecond
	// defaultLogPeriod: at most one refusal line this often.
	defaultLogPeriod = 5 * time.Second
)

// defaultExempt are the paths Admission never refuses unless Exempt says
// otherwise: the probes of package health and the metrics scrape.
var defaultExempt = []string{"/livez", "/readyz", "/startupz", "/healthz", "/metrics"}

// AdmitOption configures NewAdmission.
type AdmitOption interface{ applyAdmit(*admitConfig) }

type admitConfig struct {
	lim       adaptive.Config
	memory    float64
	logger    *slog.Logger
	exempt    []string
	err       error
	logPeriod time.Duration
}

type admitFunc func(*admitConfig)

func (f admitFunc) applyAdmit(c *admitConfig) { f(c) }

// LatencyTarget sets the latency goal of admitted requests under overload
// (default 50 ms, between 1 ms and 1 m): the in-flight limit is held where
// their mean latency stays within it (or within twice the service's
// unloaded latency, when that is longer), and on a saturated CPU a request
// waits at most about twice it before it runs. A lower target sheds sooner
// and keeps admitted requests faster.
func LatencyTarget(d time.Duration) AdmitOption {
	return admitFunc(func(c *admitConfig) {
		if d <= 0 {
			c.fail(fmt.Errorf("LatencyTarget(%v): want a positive duration", d))
			return
		}
		c.lim.Target = d
	})
}

// LimitBounds sets the range of the in-flight limit (default 4 to 10000):
// minimum at least 1, maximum at least the minimum.
func LimitBounds(minimum, maximum int) AdmitOption {
	return admitFunc(func(c *admitConfig) {
		if minimum < 1 || maximum < minimum {
			c.fail(fmt.Errorf("LimitBounds(%d, %d): want 1 <= minimum <= maximum", minimum, maximum))
			return
		}
		c.lim.Min, c.lim.Max = minimum, maximum
	})
}

// InitialLimit sets the limit before the first measurement (default 100,
// within LimitBounds).
func InitialLimit(n int) AdmitOption {
	return admitFunc(func(c *admitConfig) {
		if n < 1 {
			c.fail(fmt.Errorf("InitialLimit(%d): want at least 1", n))
			return
		}
		c.lim.Initial = n
	})
}

// MemoryThreshold sets the fraction of GOMEMLIMIT the live heap may reach
// before requests are refused with ReasonMemory (default 0.9); 0 turns the
// memory check off. Without a GOMEMLIMIT nothing is refused for memory.
func MemoryThreshold(fraction float64) AdmitOption {
	return admitFunc(func(c *admitConfig) {
		if math.IsNaN(fraction) || fraction < 0 || fraction > 1 {
			c.fail(fmt.Errorf("MemoryThreshold(%v): want a fraction between 0 and 1", fraction))
			return
		}
		c.memory = fraction
	})
}

// Exempt sets the URL paths the middleware never refuses and does not
// measure, replacing the default /livez, /readyz, /startupz, /healthz and
// /metrics. Exempt() exempts nothing.
func Exempt(paths ...string) AdmitOption {
	return admitFunc(func(c *admitConfig) { c.exempt = paths })
}

// AdmitLogger sets where refusals are reported: one line when refusing
// starts and at most one every 5 seconds while it goes on, with the
// counts by reason; nil or absent: slog.Default().
func AdmitLogger(l *slog.Logger) AdmitOption {
	return admitFunc(func(c *admitConfig) { c.logger = l })
}

func (c *admitConfig) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// NewAdmission returns an Admission with its metrics registered on reg
// (nil: none):
//
//	server_admission_limit                  the in-flight limit now
//	server_admission_in_flight              requests admitted and not done
//	server_admission_waiting                of those, waiting for a CPU
//	server_admission_refusals_total{reason} limit, queue, memory, expired
//
// A setting out of range is an error, as is a registration that fails; a
// second Admission on one registry is an error too, since the series
// would mix two limits.
func NewAdmission(reg prometheus.Registerer, opts ...AdmitOption) (*Admission, error) {
	cfg := admitConfig{memory: defaultMemoryThreshold, exempt: defaultExempt, logPeriod: defaultLogPeriod}
	for _, o := range opts {
		o.applyAdmit(&cfg)
	}
	if cfg.err != nil {
		return nil, fmt.Errorf("server: admission: %w", cfg.err)
	}
	lim, err := adaptive.New(cfg.lim, 0)
	if err != nil {
		return nil, fmt.Errorf("server: admission: %w", err)
	}
	a := &Admission{lim: lim, base: time.Now(), log: cfg.logger, logPeriod: cfg.logPeriod}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.lastLog.Store(math.MinInt64 / 2)
	a.exempt = make(map[string]struct{}, len(cfg.exempt))
	for _, p := range cfg.exempt {
		a.exempt[p] = struct{}{}
	}
	a.rt.init(cfg.memory)
	a.q.init(lim.Config().Target, lim.Config().Max)
	if reg != nil {
		if err := a.register(reg); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *Admission) register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "server_admission_limit",
			Help: "The adaptive limit of requests in flight: more are refused.",
		}, func() float64 { return float64(a.lim.Limit()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "server_admission_in_flight",
			Help: "Requests admitted and not yet done, those waiting for a CPU included.",
		}, func() float64 { return float64(a.lim.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "server_admission_waiting",
			Help: "Admitted requests waiting for their turn to run while the CPU is saturated.",
		}, func() float64 { return float64(a.q.waiting.Load()) }),
	}
	for r := range numReasons {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "server_admission_refusals_total",
			Help:        "Requests refused before any handler work, by reason: limit (too much in flight to finish in time), queue (goroutines wait for a CPU longer than the latency goal), memory (heap near GOMEMLIMIT), expired (its context ended while it waited).",
			ConstLabels: prometheus.Labels{"reason": r.String()},
		}, func() float64 { return float64(a.refusals[r].Load()) }))
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, d := range cs[:i] {
				reg.Unregister(d)
			}
			return fmt.Errorf("server: admission: register metrics: %w", err)
		}
	}
	return nil
}

// Limit returns the in-flight limit now.
func (a *Admission) Limit() int { return a.lim.Limit() }

// InFlight returns the number of requests admitted and not yet released.
func (a *Admission) InFlight() int { return a.lim.InFlight() }

// Permit is an admitted request; Release it exactly once when its work is
// done. The zero Permit releases nothing.
type Permit struct {
	a   *Admission
	run time.Duration // when it started to run, since a.base
}

// Acquire admits a request whose context is ctx, or refuses it with a
// *Refusal (errors.Is(err, ErrRefused)): ReasonExpired when ctx has ended
// (before or while it waited), ReasonMemory when the heap is near
// GOMEMLIMIT, ReasonLimit when the in-flight limit is reached, ReasonQueue
// when the CPU is saturated and the request would wait too long. At low
// load it takes no lock and allocates nothing; when the CPU is saturated
// it may wait, up to three times the goal or until ctx ends.
//
// Transports other than HTTP call it before any work and Release the
// permit when the work is done; the time between the two is the latency
// sample the limit learns from, so acquire after reading the request and
// release before streaming a long response. A gRPC interceptor:
//
//	p, err := adm.Acquire(ctx)
//	if err != nil {
//		return nil, status.Error(codes.ResourceExhausted, err.Error())
//	}
//	defer p.Release()
//	return handler(ctx, req)
func (a *Admission) Acquire(ctx context.Context) (Permit, error) {
	now := time.Since(a.base)
	if ctx.Err() != nil {
		return Permit{}, a.refused(ReasonExpired, now)
	}
	a.rt.sample(now, &a.q)
	if a.rt.memOver.Load() {
		return Permit{}, a.refused(ReasonMemory, now)
	}
	if !a.lim.Acquire() {
		return Permit{}, a.refused(ReasonLimit, now)
	}
	if r, ok := a.q.acquire(ctx); !ok {
		a.lim.Drop()
		return Permit{}, a.refused(r, time.Since(a.base))
	}
	run := now
	if a.q.saturated() {
		// Let the requests the scheduler holds reach the queue (or a
		// refusal) before this one takes the CPU: see runQueue.
		runtime.Gosched()
		run = time.Since(a.base)
	}
	return Permit{a: a, run: run}, nil
}

// Admit is Acquire for a caller that knows nothing of Permit: it returns
// the permit's Release. *Admission thereby satisfies grpcx.Admitter, so
// one Admission guards a service's HTTP and gRPC ports alike:
//
//	srv, err := grpcx.NewServer(grpcx.Admission(adm), ...)
func (a *Admission) Admit(ctx context.Context) (release func(), err error) {
	p, err := a.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return p.Release, nil
}

// Release ends the admitted request, its latency a sample for the limit.
func (p Permit) Release() {
	if p.a == nil {
		return
	}
	now := time.Since(p.a.base)
	p.a.q.observe(now - p.run)
	p.a.q.release()
	// The sample is the run, not the wait before it: the run queue bounds
	// its own wait, and a limit that counted it would shrink to fight it.
	p.a.lim.Release(now-p.run, int64(now))
}

// refused counts a refusal, logs when a line is due, and returns its
// error.
func (a *Admission) refused(r Reason, now time.Duration) error {
	a.refusals[r].Add(1)
	if int64(now)-a.lastLog.Load() >= int64(a.logPeriod) {
		a.logRefusals(now)
	}
	return refusalErrs[r]
}

// logRefusals writes the refusal line: the counts since the last one.
func (a *Admission) logRefusals(now time.Duration) {
	if !a.logMu.TryLock() {
		return
	}
	defer a.logMu.Unlock()
	if int64(now)-a.lastLog.Load() < int64(a.logPeriod) {
		return
	}
	a.lastLog.Store(int64(now))
	attrs := make([]slog.Attr, 0, numReasons+2)
	for r := range numReasons {
		n := a.refusals[r].Load()
		if d := n - a.logged[r]; d > 0 {
			attrs = append(attrs, slog.Uint64("refused_"+r.String(), d))
		}
		a.logged[r] = n
	}
	attrs = append(attrs, slog.Int("limit", a.lim.Limit()), slog.Int("in_flight", a.lim.InFlight()))
	a.log.LogAttrs(context.Background(), slog.LevelWarn,
		"server: refusing requests: overloaded (at most one line every "+a.logPeriod.String()+")", attrs...)
}

// Middleware returns next behind the admission: a request it refuses gets
// "503 Service Unavailable" with Retry-After before next sees it, and
// prodready's logging, metrics and tracing record it with error type
// "shed". Put it inside them and outside Deadline and the mux:
//
//	srv.Handler = tracing.Middleware()(logging.Middleware(log)(red(adm.Middleware(deadline(mux)))))
func (a *Admission) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := a.exempt[r.URL.Path]; ok {
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.Acquire(r.Context())
		if err != nil {
			refuse(w, r)
			return
		}
		defer p.Release()
		next.ServeHTTP(w, r)
	})
}

// refuse answers a refused request.
func refuse(w http.ResponseWriter, r *http.Request) {
	request.From(r.Context()).Fail(request.FailShed)
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Retry-After"] = retryAfterValue
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(overloaded)
}

// The refusal's header values and body, made once.
var (
	textPlain       = []string{"text/plain; charset=utf-8"}
	retryAfterValue = []string{"1"}
	nosniff         = []string{"nosniff"}
	overloaded      = []byte("server overloaded, retry later\n")
)

// runtimeSampler reads from runtime/metrics, at most once per
// sampleInterval, whether the live heap is above the threshold of
// GOMEMLIMIT and how long goroutines wait for a CPU; the latter drives
// runQueue.
type runtimeSampler struct {
	memory float64 // fraction of GOMEMLIMIT; 0: no memory check

	next    atomic.Int64
	memOver atomic.Bool
	decided time.Duration // when the run queue was last revised

	mu      sync.Mutex
	samples []metrics.Sample
	prev    []uint64 // the scheduling latency counts at the last decision
	delta   []uint64
	// read returns what the runtime reports; tests replace it.
	read func() reading
}

// reading is what one read of runtime/metrics says.
type reading struct {
	live, limit uint64 // live heap and GOMEMLIMIT (math.MaxInt64: none)
	memory      bool   // whether live and limit were reported
	// sched is the cumulative histogram of how long goroutines waited to
	// run, nil when not reported.
	sched *metrics.Float64Histogram
}

func (m *runtimeSampler) init(memory float64) {
	m.memory = memory
	m.samples = []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/gomemlimit:bytes"},
		{Name: "/sched/latencies:seconds"},
	}
	m.read = m.readRuntime
}

func (m *runtimeSampler) readRuntime() reading {
	metrics.Read(m.samples)
	var r reading
	live, limit, sched := m.samples[0].Value, m.samples[1].Value, m.samples[2].Value
	if live.Kind() == metrics.KindUint64 && limit.Kind() == metrics.KindUint64 {
		r.live, r.limit, r.memory = live.Uint64(), limit.Uint64(), true
	}
	if sched.Kind() == metrics.KindFloat64Histogram {
		r.sched = sched.Float64Histogram()
	}
	return r
}

// sample reads again when sampleInterval has passed (or the clock went
// back) and another request is not reading, and revises q's run from
// the scheduler's latency every decideInterval at most.
func (m *runtimeSampler) sample(now time.Duration, q *runQueue) {
	if n := m.next.Load(); int64(now) < n && int64(now) >= n-int64(sampleInterval) {
		return
	}
	if !m.mu.TryLock() {
		return
	}
	defer m.mu.Unlock()
	m.next.Store(int64(now + sampleInterval))
	r := m.read()
	m.memOver.Store(m.memory > 0 && r.memory && r.limit != math.MaxInt64 &&
		float64(r.live) >= m.memory*float64(r.limit))
	if now-m.decided < decideInterval && now >= m.decided {
		return
	}
	if p90, ok := m.schedP90(r.sched); ok {
		m.decided = now
		q.decide(p90)
	}
}

// schedP90 returns the 90th percentile of the scheduling latencies since
// the last call that returned ok, in nanoseconds (the lower bound of its
// bucket). With too few goroutines scheduled since to say (the runtime
// records one scheduling in eight), it returns false and lets them add up.
func (m *runtimeSampler) schedP90(h *metrics.Float64Histogram) (float64, bool) {
	if h == nil {
		return 0, false
	}
	if len(m.prev) != len(h.Counts) { // the first read
		m.prev = slices.Clone(h.Counts)
		m.delta = make([]uint64, len(h.Counts))
		return 0, false
	}
	var total uint64
	for i, c := range h.Counts {
		m.delta[i] = c - m.prev[i]
		total += m.delta[i]
	}
	if total < minScheduled {
		return 0, false
	}
	copy(m.prev, h.Counts)
	rank := total - total/10
	var seen uint64
	for i, d := range m.delta {
		if seen += d; seen >= rank {
			return max(h.Buckets[i], 0) * 1e9, true
		}
	}
	return 0, true
}

// minScheduled is how many goroutines must have been scheduled since the
// last read for its latencies to decide anything.
const minScheduled = 8
