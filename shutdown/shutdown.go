package shutdown

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Hook is a step of the shutdown that runs after the servers stopped:
// close a database pool, flush traces, sync logs. ctx carries the
// remaining budget; a hook that ignores it and overruns is abandoned and
// named in Wait's error.
type Hook func(ctx context.Context) error

// Manager owns the life of a service: the servers it serves, the workers
// it supervises, the hooks it runs, the signals it listens to and a
// Context that ends when shutdown begins. Create it with New.
//
// The zero Manager is usable too, with the defaults, and it keeps lazy
// signal capture on purpose: a Manager's job is to own the process's
// termination signals, and one that never took them would let SIGTERM
// kill the process mid-request while Wait waited for a signal it would
// never see. So its first method call, whichever it is (Context included),
// installs the signal handlers, as New does at once. A library that only
// needs a context that ends at shutdown should take a context.Context
// from main, not a *Manager. A Manager must not be copied after first
// use.
type Manager struct {
	once sync.Once
	cfg  config

	ctx      context.Context
	cancel   context.CancelCauseFunc
	sigs     chan os.Signal
	notified bool
	done     chan struct{} // closed when the shutdown has finished
	err      error         // Wait's result, written before done closes
	serving  sync.WaitGroup

	// serveCtx is the base of every served request's context; it ends
	// when the servers' share of the budget runs out (budget.go).
	serveCtx    context.Context
	serveCancel context.CancelCauseFunc

	// draining is set when shutdown begins: from then on every response
	// carries "Connection: close".
	draining atomic.Bool

	mu       sync.Mutex
	began    bool
	drained  bool // the OnDrain callbacks have been taken
	finished bool // the hooks step is over
	reported error
	failures []error // servers that failed
	drainFns []func()
	servers  []*server
	workers  []*worker
	hooks    []namedHook
}

type worker struct {
	name string
	done chan struct{} // closed when fn has returned
	err  error         // a *WorkerError still to report; written before done closes
}

type server struct {
	name string
	srv  *http.Server
	ln   net.Listener
	tls  bool
	grpc *grpcStop // a gRPC server instead of srv (grpc.go)
}

type namedHook struct {
	name string
	fn   Hook
}

// New returns a Manager that already listens to its signals (SIGTERM and
// SIGINT unless Signals says otherwise): from now on a signal begins the
// shutdown instead of ending the process.
func New(opts ...Option) *Manager {
	m := &Manager{}
	m.once.Do(func() { m.start(opts) })
	return m
}

func (m *Manager) init() {
	m.once.Do(func() { m.start(nil) })
}

func (m *Manager) start(opts []Option) {
	m.cfg = defaults()
	for _, o := range opts {
		if o != nil {
			o.apply(&m.cfg)
		}
	}
	m.ctx, m.cancel = context.WithCancelCause(context.Background())
	m.serveCtx, m.serveCancel = context.WithCancelCause(context.Background())
	m.done = make(chan struct{})
	if len(m.cfg.signals) > 0 {
		// Two slots: the first signal and the second, which must not be
		// dropped while the first is being handled.
		m.sigs = make(chan os.Signal, 2)
		m.cfg.notify(m.sigs, m.cfg.signals...)
		m.notified = true
		// Asking for SIGPIPE is what keeps Go from ending the process
		// when a write to stdout or stderr finds the reader gone (a log
		// shipper restarted, `| head`): the write fails with EPIPE
		// instead, for the writer to report. The channel is never read
		// (os/signal drops what does not fit) and never stopped, so this
		// holds after Wait too, while main writes its last lines.
		m.cfg.notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		go m.watch()
	}
}

// Context returns a context that is cancelled the moment shutdown begins,
// for background workers to stop on. context.Cause(ctx) says why: a
// *SignalError, the cause given to Trigger (context.Canceled for nil), or
// the error of a server that failed.
func (m *Manager) Context() context.Context {
	m.init()
	return m.ctx
}

// OnDrain adds fn to the callbacks called first when shutdown begins,
// before the drain delay: typically a readiness checker's Drain, so that
// load balancers stop sending traffic. A callback must not block for long:
// it runs inside the budget. Added after they were called, fn is called at
// once.
func (m *Manager) OnDrain(fn func()) {
	if fn == nil {
		return
	}
	m.init()
	m.mu.Lock()
	if !m.drained {
		m.drainFns = append(m.drainFns, fn)
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	fn()
}

// Serve serves srv on ln (on srv.Addr when ln is nil). Serve wraps
// srv.Handler so that, once shutdown begins, every response carries
// "Connection: close" (HTTP/2: GOAWAY); after the drain delay Shutdown lets
// in-flight requests finish, and Close ends whatever is left when the
// budget runs out. srv is served with TLS when srv.TLSConfig has a certificate (Certificates,
// GetCertificate or GetConfigForClient). One srv may be served on several
// listeners (IPv4 and IPv6, TCP and a unix socket): call Serve once for
// each, before or after the first serves. Serve returns at once; an error
// (the port is in use) begins the shutdown and comes back from Wait;
// http.ErrServerClosed is not an error. Serve after shutdown began does
// not serve: it closes ln and reports ErrShuttingDown to the observers.
func (m *Manager) Serve(srv *http.Server, ln net.Listener) {
	m.init()
	if ln == nil {
		addr := srv.Addr
		if addr == "" {
			addr = ":http"
		}
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			m.serveFailed(addr, err)
			return
		}
	}
	// Wrap once, and read srv's settings only then: the same srv served
	// on a second listener is already serving on the first, and net/http
	// writes srv.TLSConfig and reads srv.Handler while it serves.
	d, ok := srv.Handler.(*drainHandler)
	if !ok || d.m != m {
		next := srv.Handler
		if next == nil {
			next = http.DefaultServeMux // what http.Server serves for nil
		}
		d = &drainHandler{m: m, next: next, tls: hasCertificate(srv)}
		srv.Handler = d
		m.joinBudget(srv)
	}
	s := &server{name: ln.Addr().String(), srv: srv, ln: ln, tls: d.tls}
	m.mu.Lock()
	if m.began {
		m.mu.Unlock()
		_ = ln.Close() // refused: nothing to report beyond the event
		m.emit(Event{Step: Refused, Name: s.name, Err: ErrShuttingDown})
		return
	}
	m.servers = append(m.servers, s)
	m.serving.Add(1)
	m.mu.Unlock()
	go m.serve(s)
}

// drainHandler asks each client to close its connection after the
// response once shutdown has begun, so that it dials again and reaches an
// instance that is still in the endpoints (over HTTP/2 Go's server turns
// the header into GOAWAY). Idle connections are left alone until Shutdown:
// closing them at the start of the drain (as SetKeepAlivesEnabled(false)
// does) races clients that are sending on them at that moment, while
// traffic is still at full rate.
type drainHandler struct {
	m    *Manager
	next http.Handler
	tls  bool // serve with TLS: srv.TLSConfig has a certificate
}

func (d *drainHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.m.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	d.next.ServeHTTP(w, r)
}

func (m *Manager) serve(s *server) {
	defer m.serving.Done()
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return
	}
	m.serveFailed(s.name, err)
}

func hasCertificate(srv *http.Server) bool {
	c := srv.TLSConfig
	return c != nil && (len(c.Certificates) > 0 || c.GetCertificate != nil || c.GetConfigForClient != nil)
}

func (m *Manager) serveFailed(name string, err error) {
	err = fmt.Errorf("shutdown: serve %s: %w", name, err)
	m.mu.Lock()
	late := m.finished
	if !late {
		m.failures = append(m.failures, err)
	}
	m.mu.Unlock()
	m.emit(Event{Step: ServeFailed, Name: name, Err: err})
	// A failed listener has nothing to drain for: skip the delay.
	m.begin(err, false, false)
}

// Go runs fn on a goroutine of its own as a supervised worker (a queue
// consumer, a ticker, a cache warmer), with a context that is the
// Manager's Context: cancelled when shutdown begins.
//
// A worker that returns an error, or panics, before the shutdown begins
// it, with a *WorkerError naming the worker as the cause (drain delay
// included, as for Trigger). Returning nil early is not an error: a
// one-off job may finish. Once shutdown has begun, returning nil,
// context.Canceled or the Context's cause is a clean stop; any other error
// is reported in Wait.
//
// The shutdown waits for the workers after the servers stopped (so no
// request is still handing them work) and before the hooks (so a consumer
// is done before the database pool it writes to is closed), for at most
// HookTimeout or its share of the budget. A worker still running then is
// abandoned and named as stuck (a *WorkerError with ErrStuck). Go after
// shutdown began does not start fn (the observers see ErrShuttingDown). A
// nil fn is ignored.
func (m *Manager) Go(name string, fn func(ctx context.Context) error) {
	if fn == nil {
		return
	}
	m.init()
	m.mu.Lock()
	if m.began {
		m.mu.Unlock()
		m.emit(Event{Step: Refused, Name: name, Err: ErrShuttingDown})
		return
	}
	w := &worker{name: name, done: make(chan struct{})}
	m.workers = append(m.workers, w)
	m.mu.Unlock()
	go m.work(w, fn)
}

func (m *Manager) work(w *worker, fn func(context.Context) error) {
	defer close(w.done)
	var err error
	if perr := recovered(func() { err = fn(m.ctx) }); perr != nil {
		err = perr
	}
	if err == nil {
		return
	}
	if m.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.Cause(m.ctx))) {
		return // stopped as asked
	}
	werr := &WorkerError{Name: w.name, Err: err}
	m.emit(Event{Step: WorkerFailed, Name: w.name, Err: werr})
	if !m.begin(werr, true, true) {
		w.err = werr // shutdown was under way: reported with the workers
	}
}

// Add adds a hook, run after the servers stopped and the workers returned,
// in the reverse order of Add, like defer: what was opened last is closed
// first. Each hook gets at most HookTimeout, or its share of the budget
// when that is less (see HookTimeout); an error, a panic or a hook that
// overruns is reported and the next hook still runs. A hook added while
// hooks run is run next; one added after the shutdown finished is not run
// (the observers see ErrShuttingDown). A nil hook is ignored.
func (m *Manager) Add(name string, hook Hook) {
	if hook == nil {
		return
	}
	m.init()
	m.mu.Lock()
	if m.finished {
		m.mu.Unlock()
		m.emit(Event{Step: Refused, Name: name, Err: ErrShuttingDown})
		return
	}
	m.hooks = append(m.hooks, namedHook{name: name, fn: hook})
	m.mu.Unlock()
}

// Trigger begins the shutdown from code, with the same steps as SIGTERM,
// drain delay included (a worker started with Go that fails does this
// itself).
// cause becomes the Context's cause and, when not nil, part of Wait's
// error; Trigger(nil) is a clean stop. After the first, Trigger and
// signals do not begin another shutdown.
func (m *Manager) Trigger(cause error) {
	m.init()
	m.begin(cause, true, cause != nil)
}

// Wait blocks until the shutdown has finished and returns nil when it was
// clean. Otherwise it returns the errors joined: the cause given to
// Trigger or the *WorkerError of the worker that began it, servers that
// failed (the port is in use), servers closed at the deadline with
// requests in flight, a *WorkerError for each other worker that failed or
// was stuck, and a *HookError for each hook that failed, was stuck or
// never ran. Every call returns the same result.
func (m *Manager) Wait() error {
	m.init()
	<-m.done
	return m.err
}

// watch handles signals until the shutdown finishes: the first begins the
// shutdown, the second exits the process (or restores the default
// handling).
func (m *Manager) watch() {
	first := true
	for {
		select {
		case <-m.done:
			return
		case sig := <-m.sigs:
			cause := &SignalError{Signal: sig}
			if first {
				first = false
				// No drain on SIGINT: Ctrl-C at a terminal has no load
				// balancer to wait for.
				m.begin(cause, sig != os.Interrupt, false)
				continue
			}
			m.emit(Event{Step: SecondSignal, Cause: cause})
			if m.cfg.exitOnSecond {
				m.cfg.exit(cause.ExitCode())
			}
			m.cfg.stop(m.sigs)
			return
		}
	}
}

// begin starts the shutdown once and reports whether this call did; later
// calls change nothing.
func (m *Manager) begin(cause error, drain, report bool) bool {
	m.mu.Lock()
	if m.began {
		m.mu.Unlock()
		return false
	}
	m.began = true
	if report {
		m.reported = cause
	}
	m.mu.Unlock()
	m.cancel(cause)
	go m.run(context.Cause(m.ctx), drain) // context.Canceled for Trigger(nil)
	return true
}

// run is the shutdown: drain, stop the servers, wait for the workers, run
// the hooks, all inside one budget.
func (m *Manager) run(cause error, drain bool) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.timeout)
	defer cancel()
	m.emit(Event{Step: Began, Cause: cause})

	var errs []error
	errs = append(errs, m.drain(ctx, drain)...)
	sctx, scancel := m.serversContext(ctx)
	errs = append(errs, m.stopServers(sctx)...)
	scancel()
	errs = append(errs, m.stopWorkers(ctx, start)...)
	errs = append(errs, m.runHooks(ctx)...)
	m.serving.Wait()

	m.mu.Lock()
	errs = append(append([]error{m.reported}, m.failures...), errs...)
	m.mu.Unlock()
	m.err = errors.Join(errs...)
	m.emit(Event{Step: Finished, Duration: time.Since(start), Err: m.err})
	if m.notified {
		m.cfg.stop(m.sigs)
	}
	close(m.done)
}

// drain calls the OnDrain callbacks, marks the servers as draining (their
// responses close connections from now on) and waits the drain delay while
// they still serve.
func (m *Manager) drain(ctx context.Context, delay bool) []error {
	m.draining.Store(true)
	m.mu.Lock()
	fns := m.drainFns
	m.drainFns = nil
	m.drained = true
	m.mu.Unlock()

	var errs []error
	if len(fns) > 0 {
		var mu sync.Mutex // the callbacks' goroutine may outlive the budget
		var failed []error
		_, err := bounded(ctx, func(context.Context) error {
			for _, fn := range fns {
				if err := recovered(fn); err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			}
			return nil
		})
		mu.Lock()
		for _, e := range append(failed, err) {
			if e != nil {
				errs = append(errs, fmt.Errorf("shutdown: OnDrain callback: %w", e))
			}
		}
		mu.Unlock()
	}
	if !delay || m.cfg.drainDelay <= 0 || ctx.Err() != nil {
		return errs
	}
	m.emit(Event{Step: Draining, Duration: m.cfg.drainDelay})
	t := time.NewTimer(m.cfg.drainDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return errs
}

// stopServers shuts every server down in parallel and closes those that
// are not done by the deadline.
func (m *Manager) stopServers(ctx context.Context) []error {
	m.mu.Lock()
	servers := m.servers
	m.mu.Unlock()
	if len(servers) == 0 {
		return nil
	}
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.name
	}
	m.emit(Event{Step: Stopping, Name: strings.Join(names, ", ")})
	start := time.Now()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() { errs[i] = stopServer(ctx, s, start) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	m.emit(Event{Step: Stopped, Duration: time.Since(start), Err: err})
	return errs
}

func stopServer(ctx context.Context, s *server, start time.Time) error {
	if s.grpc != nil {
		return s.grpc.stop(ctx, s.name, start)
	}
	err := s.srv.Shutdown(ctx)
	if err == nil {
		return nil
	}
	if cerr := s.srv.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return fmt.Errorf("shutdown: server %s closed with requests in flight after %v: %w", s.name, time.Since(start), err)
}

// share returns the context of one step after the servers: the budget's
// deadline, or sooner HookTimeout from now or an equal share of what is
// left among the steps still to run (this one included), so that no step
// can take the time of those after it.
func (m *Manager) share(ctx context.Context, steps int) (context.Context, context.CancelFunc) {
	d := m.cfg.hookTimeout
	if deadline, ok := ctx.Deadline(); ok && steps > 0 {
		d = min(d, time.Until(deadline)/time.Duration(steps))
	}
	return context.WithTimeout(ctx, d)
}

// stopWorkers waits for the workers, told to stop when shutdown began, for
// at most their share of the budget, and names those still running.
func (m *Manager) stopWorkers(ctx context.Context, began time.Time) []error {
	m.mu.Lock()
	workers := m.workers
	steps := len(m.hooks) + 1
	m.mu.Unlock()
	if len(workers) == 0 {
		return nil
	}
	start := time.Now()
	wctx, cancel := m.share(ctx, steps)
	defer cancel()
	var errs []error
	for _, w := range workers {
		select {
		case <-w.done:
		case <-wctx.Done():
		}
		select {
		case <-w.done:
			if w.err != nil {
				errs = append(errs, w.err)
			}
		default:
			took := time.Since(began)
			errs = append(errs, &WorkerError{Name: w.name, Duration: took, Err: ErrStuck})
			m.emit(Event{Step: WorkerStuck, Name: w.name, Duration: took, Err: ErrStuck})
		}
	}
	m.emit(Event{Step: WorkersStopped, Duration: time.Since(start), Err: errors.Join(errs...)})
	return errs
}

// runHooks runs the hooks, last added first, until none is left.
func (m *Manager) runHooks(ctx context.Context) []error {
	var errs []error
	for {
		m.mu.Lock()
		n := len(m.hooks)
		if n == 0 {
			m.finished = true
			m.mu.Unlock()
			return errs
		}
		h := m.hooks[n-1]
		m.hooks = m.hooks[:n-1]
		m.mu.Unlock()

		if ctx.Err() != nil {
			errs = append(errs, &HookError{Name: h.name, Err: ErrNotRun})
			m.emit(Event{Step: HookNotRun, Name: h.name, Err: ErrNotRun})
			continue
		}
		hctx, cancel := m.share(ctx, n)
		took, err := bounded(hctx, h.fn)
		cancel()
		switch {
		case err == ErrStuck:
			errs = append(errs, &HookError{Name: h.name, Duration: took, Err: ErrStuck})
			m.emit(Event{Step: HookStuck, Name: h.name, Duration: took, Err: ErrStuck})
		case err != nil:
			errs = append(errs, &HookError{Name: h.name, Duration: took, Err: err})
			m.emit(Event{Step: HookFailed, Name: h.name, Duration: took, Err: err})
		default:
			m.emit(Event{Step: HookDone, Name: h.name, Duration: took})
		}
	}
}

// bounded runs fn in a goroutine of its own and waits for it until ctx
// ends. A panic becomes the error. When ctx ends first fn is abandoned and
// the error is ErrStuck: its goroutine runs on until fn returns, which is
// the price of exiting on time with a hook that ignores its context.
func bounded(ctx context.Context, fn Hook) (took time.Duration, err error) {
	start := time.Now()
	res := make(chan error, 1)
	go func() {
		var err error
		if perr := recovered(func() { err = fn(ctx) }); perr != nil {
			err = perr
		}
		res <- err
	}()
	select {
	case err = <-res:
	case <-ctx.Done():
		// A hook that returned just as the budget ran out is not stuck.
		select {
		case err = <-res:
		default:
			err = ErrStuck
		}
	}
	return time.Since(start), err
}

// recovered calls fn and turns a panic into an error carrying the stack.
func recovered(fn func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	fn()
	return nil
}
