package shutdown

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// The steps on SIGTERM, in order and at the exact times: Context first,
// OnDrain, the drain delay while serving, servers, hooks last-first.
func TestOrderOnSIGTERM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake fakeOS
		rec := newRecorder()
		m := New(fake.option(), quiet(), rec.observe(), DrainDelay(2*time.Second), Timeout(10*time.Second))
		pn := newPipeNet(t)
		m.Serve(testServer(), pn)
		m.OnDrain(func() { rec.add("ondrain, context done: %v", context.Cause(m.Context())) })
		for _, name := range []string{"db", "cache", "traces"} {
			m.Add(name, func(context.Context) error { rec.add("run %s", name); return nil })
		}

		fake.send(t, syscall.SIGTERM)
		if err := m.Wait(); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		synctest.Wait()
		equalLines(t, rec.got(), []string{
			"0s began: shutdown: received signal terminated",
			"0s ondrain, context done: shutdown: received signal terminated",
			"0s draining 2s err=false",
			"2s stopping pipe",
			"2s stopped 0s err=false",
			"2s run traces",
			"2s hook done traces",
			"2s run cache",
			"2s hook done cache",
			"2s run db",
			"2s hook done db",
			"2s finished 2s err=false",
		})
	})
}

// The drain delay is honoured for SIGTERM, other signals and Trigger, and
// skipped for SIGINT and for a server that failed.
func TestDrainDelay(t *testing.T) {
	const delay = 3 * time.Second
	tests := []struct {
		name      string
		signals   []os.Signal
		start     func(t *testing.T, m *Manager, fake *fakeOS)
		wantStop  time.Duration
		wantError error
	}{
		{
			name:     "SIGTERM",
			signals:  []os.Signal{syscall.SIGTERM, os.Interrupt},
			start:    func(t *testing.T, _ *Manager, f *fakeOS) { f.send(t, syscall.SIGTERM) },
			wantStop: delay,
		},
		{
			name:     "SIGINT skips it",
			signals:  []os.Signal{syscall.SIGTERM, os.Interrupt},
			start:    func(t *testing.T, _ *Manager, f *fakeOS) { f.send(t, os.Interrupt) },
			wantStop: 0,
		},
		{
			name:     "a configured SIGHUP",
			signals:  []os.Signal{syscall.SIGHUP},
			start:    func(t *testing.T, _ *Manager, f *fakeOS) { f.send(t, syscall.SIGHUP) },
			wantStop: delay,
		},
		{
			name:     "Trigger",
			signals:  nil,
			start:    func(_ *testing.T, m *Manager, _ *fakeOS) { m.Trigger(nil) },
			wantStop: delay,
		},
		{
			name:    "a failed server skips it",
			signals: nil,
			start: func(_ *testing.T, m *Manager, _ *fakeOS) {
				m.Serve(&http.Server{ReadHeaderTimeout: time.Second}, failingListener{errAccept})
			},
			wantStop:  0,
			wantError: errAccept,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fake fakeOS
				var stoppedAt time.Duration
				start := time.Now()
				m := New(fake.option(), quiet(), Signals(tt.signals...), DrainDelay(delay),
					OnEvent(func(ev Event) {
						if ev.Step == Stopping {
							stoppedAt = time.Since(start)
						}
					}))
				pn := newPipeNet(t)
				m.Serve(testServer(), pn)
				tt.start(t, m, &fake)
				err := m.Wait()
				if !errors.Is(err, tt.wantError) || (err == nil) != (tt.wantError == nil) {
					t.Errorf("Wait = %v, want %v", err, tt.wantError)
				}
				if stoppedAt != tt.wantStop {
					t.Errorf("servers began to stop at %v, want %v", stoppedAt, tt.wantStop)
				}
			})
		})
	}
}

// During the drain the server keeps serving, asking clients to close so
// that they dial again elsewhere, without cutting the idle connection a
// client may be sending on; in-flight requests finish; after it, new
// connections are refused.
func TestServingDuringDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake fakeOS
		m := New(fake.option(), quiet(), DrainDelay(2*time.Second))
		pn := newPipeNet(t)
		m.Serve(testServer(), pn)

		slow := make(chan error, 1)
		go func() {
			body, _, err := pn.get("/slow?d=5s")
			if err == nil && body != "done after 5s" {
				err = errors.New("truncated body " + body)
			}
			slow <- err
		}()
		synctest.Wait() // the slow request is in flight on the first connection
		if _, closing, err := pn.get("/fast"); err != nil || closing {
			t.Fatalf("before the signal: err %v, Connection: close %v; want a kept-alive 200", err, closing)
		}
		synctest.Wait() // the second connection is idle in the client's pool
		fake.send(t, syscall.SIGTERM)

		time.Sleep(time.Second) // inside the drain
		if _, closing, err := pn.get("/fast"); err != nil || !closing {
			t.Errorf("during the drain: err %v, Connection: close %v; want a 200 that closes the connection", err, closing)
		}
		// The fast request went over the connection left idle before the
		// signal: the drain did not cut it.
		if n := pn.dials.Load(); n != 2 {
			t.Errorf("%d connections dialled by the end of the drain, want 2: the idle one was closed", n)
		}
		time.Sleep(2 * time.Second) // servers are stopping, the slow request still runs
		if _, _, err := pn.get("/fast"); err == nil {
			t.Error("a request after the servers stopped succeeded; want the connection refused")
		}
		if err := <-slow; err != nil {
			t.Errorf("in-flight request: %v", err)
		}
		if err := m.Wait(); err != nil {
			t.Errorf("Wait: %v", err)
		}
	})
}

// One budget: the hooks get what the drain and the servers left, a stuck
// hook is abandoned at the deadline and named, later hooks are named as
// not run, and servers past the deadline are closed.
func TestBudget(t *testing.T) {
	t.Run("hooks get the remaining budget", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var fake fakeOS
			start := time.Now()
			m := New(fake.option(), quiet(), Timeout(10*time.Second), DrainDelay(2*time.Second))
			pn := newPipeNet(t)
			m.Serve(testServer(), pn)
			var startedAt time.Duration
			var left time.Duration
			m.Add("flush", func(ctx context.Context) error {
				deadline, _ := ctx.Deadline()
				startedAt, left = time.Since(start), time.Until(deadline)
				return nil
			})
			go func() { _, _, _ = pn.get("/slow?d=5s") }()
			synctest.Wait()
			fake.send(t, syscall.SIGTERM)
			if err := m.Wait(); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if startedAt < 5*time.Second {
				t.Errorf("hook started at %v, before the in-flight request ended at 5s", startedAt)
			}
			if startedAt+left != 10*time.Second {
				t.Errorf("hook started at %v with %v left: the deadline is not the one budget of 10s", startedAt, left)
			}
		})
	})

	t.Run("a stuck hook gets its share, later hooks still run", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var fake fakeOS
			rec := newRecorder()
			m := New(fake.option(), quiet(), rec.observe(), Timeout(10*time.Second))
			release := make(chan struct{})
			m.Add("db", func(context.Context) error { return nil })
			m.Add("stuck", func(context.Context) error { <-release; return nil })
			m.Add("traces", func(context.Context) error { time.Sleep(time.Second); return nil })
			fake.send(t, os.Interrupt)
			err := m.Wait()
			close(release)

			equalLines(t, rec.got(), []string{
				"0s began: shutdown: received signal interrupt",
				// 9s left for two hooks: 4.5s each, under the 5s HookTimeout.
				"1s hook done traces",
				"5.5s hook stuck stuck",
				"5.5s hook done db",
				"5.5s finished 5.5s err=true",
			})
			want := `shutdown: hook "stuck" stuck: still running after 4.5s when its time ran out`
			if err == nil || err.Error() != want {
				t.Errorf("Wait = %v, want\n%s", err, want)
			}
			var he *HookError
			if !errors.As(err, &he) || he.Name != "stuck" || he.Duration != 4500*time.Millisecond {
				t.Errorf("errors.As HookError = %+v, want the stuck hook after 4.5s", he)
			}
			if !errors.Is(err, ErrStuck) || errors.Is(err, ErrNotRun) {
				t.Errorf("Wait's error should match ErrStuck and not ErrNotRun: %v", err)
			}
		})
	})

	// 10s budget, 1s drain, one hook: the hook's reserve is 4.5s (its 5s
	// HookTimeout, at most half of the 9s left), so the servers must be
	// done by 5.5s and the requests still running are ended at 4.5s.
	t.Run("a request longer than the budget is ended and answers, the hooks run", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var fake fakeOS
			start := time.Now()
			m := New(fake.option(), quiet(), Timeout(10*time.Second), DrainDelay(time.Second))
			pn := newPipeNet(t)
			m.Serve(testServer(), pn)
			var ran bool
			m.Add("db", func(context.Context) error { ran = true; return nil })
			type answer struct {
				body string
				at   time.Duration
				err  error
			}
			slow := make(chan answer, 1)
			go func() { body, _, err := pn.get("/slow?d=30s"); slow <- answer{body, time.Since(start), err} }()
			synctest.Wait()
			fake.send(t, syscall.SIGTERM)
			if err := m.Wait(); err != nil {
				t.Errorf("Wait = %v, want nil", err)
			}
			if took := time.Since(start); took > 5500*time.Millisecond {
				t.Errorf("Wait returned after %v, want by 5.5s", took)
			}
			if !ran {
				t.Error("the hook did not run")
			}
			if a := <-slow; a.err == nil || a.err.Error() != "status 503" || a.body != "shutting down\n" || a.at != 4500*time.Millisecond {
				t.Errorf("the 30s request: %q %v at %v, want its 503 at 4.5s", a.body, a.err, a.at)
			}
		})
	})

	t.Run("a handler that ignores its context is closed, the hooks still run", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var fake fakeOS
			start := time.Now()
			m := New(fake.option(), quiet(), Timeout(10*time.Second), DrainDelay(time.Second))
			pn := newPipeNet(t)
			m.Serve(testServer(), pn)
			var ran bool
			m.Add("db", func(context.Context) error { ran = true; return nil })
			slow := make(chan error, 1)
			go func() { _, _, err := pn.get("/stubborn?d=30s"); slow <- err }()
			synctest.Wait()
			fake.send(t, syscall.SIGTERM)
			err := m.Wait()
			if took := time.Since(start); took != 5500*time.Millisecond {
				t.Errorf("Wait returned after %v, want at the servers' deadline, 5.5s", took)
			}
			if want := "server pipe closed with requests in flight after 4.5s"; err == nil || !strings.Contains(err.Error(), want) || errors.Is(err, ErrNotRun) {
				t.Errorf("Wait = %v, want it to contain %q and no hook not run", err, want)
			}
			if !ran {
				t.Error("the hook did not run")
			}
			if err := <-slow; err == nil {
				t.Error("the request cut by Close succeeded")
			}
			time.Sleep(30 * time.Second) // the stubborn handler returns: nothing outlives the bubble
		})
	})
}

var (
	errBoom  = errors.New("boom")
	errFatal = errors.New("worker: fatal")
)

// A failing or panicking hook is reported and the others still run; the
// errors are joined, the Trigger cause first.
func TestHookErrorsJoined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake fakeOS
		rec := newRecorder()
		m := New(fake.option(), quiet(), rec.observe(), DrainDelay(0))
		m.Add("first", func(context.Context) error { rec.add("run first"); return nil })
		m.Add("fails", func(context.Context) error { time.Sleep(time.Second); return errBoom })
		m.Add("panics", func(context.Context) error { panic("kaboom") })
		m.OnDrain(func() { panic("drain kaboom") })
		m.OnDrain(func() { rec.add("second OnDrain") })
		m.Trigger(errFatal)
		err := m.Wait()

		want := strings.Join([]string{
			"worker: fatal",
			"shutdown: OnDrain callback: panic: drain kaboom",
			`shutdown: hook "panics" failed after 0s: panic: kaboom`,
			`shutdown: hook "fails" failed after 1s: boom`,
		}, "\n")
		if err == nil || err.Error() != want {
			t.Errorf("Wait = %v\nwant %s", err, want)
		}
		if !errors.Is(err, errBoom) || !errors.Is(err, errFatal) {
			t.Errorf("Wait's error does not wrap both errors: %v", err)
		}
		equalLines(t, rec.got(), []string{
			"0s began: worker: fatal",
			"0s second OnDrain",
			"0s hook failed panics",
			"1s hook failed fails",
			"1s run first",
			"1s hook done first",
			"1s finished 1s err=true",
		})
	})
}

// A second signal exits at once with 128+signal, or restores the default
// handling when that is turned off.
func TestSecondSignal(t *testing.T) {
	tests := []struct {
		name      string
		exit      bool
		first     os.Signal
		second    os.Signal
		wantExits []int
	}{
		{name: "SIGTERM twice", exit: true, first: syscall.SIGTERM, second: syscall.SIGTERM, wantExits: []int{143}},
		{name: "SIGTERM then SIGINT", exit: true, first: syscall.SIGTERM, second: os.Interrupt, wantExits: []int{130}},
		{name: "SIGINT twice", exit: true, first: os.Interrupt, second: os.Interrupt, wantExits: []int{130}},
		{name: "exit turned off", exit: false, first: syscall.SIGTERM, second: syscall.SIGTERM, wantExits: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fake fakeOS
				rec := newRecorder()
				m := New(fake.option(), quiet(), rec.observe(), ExitOnSecondSignal(tt.exit), DrainDelay(0))
				release := make(chan struct{})
				m.Add("stuck", func(context.Context) error { <-release; return nil })
				fake.send(t, tt.first)
				time.Sleep(time.Second)
				fake.send(t, tt.second)
				synctest.Wait()

				stops, exits := fake.state()
				if len(exits) != len(tt.wantExits) || (len(exits) > 0 && exits[0] != tt.wantExits[0]) {
					t.Errorf("exit codes %v, want %v", exits, tt.wantExits)
				}
				// Once the second signal is handled, signal handling goes
				// back to the default: a third one ends the process.
				if stops != 1 {
					t.Errorf("signal.Stop called %d times after the second signal, want 1", stops)
				}
				close(release)
				if err := m.Wait(); err != nil {
					t.Errorf("Wait: %v", err)
				}
				got := rec.got()
				if len(got) < 2 || got[1] != "1s second signal: "+(&SignalError{tt.second}).Error() {
					t.Errorf("events %q, want the second signal at 1s", got)
				}
			})
		})
	}
}

// Trigger racing a signal: one shutdown, whose cause is the winner's.
func TestTriggerConcurrentWithSignal(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			var fake fakeOS
			var mu sync.Mutex
			var began []error
			m := New(fake.option(), quiet(), DrainDelay(time.Second), OnEvent(func(ev Event) {
				if ev.Step == Began {
					mu.Lock()
					began = append(began, ev.Cause)
					mu.Unlock()
				}
			}))
			delivered := make(chan error, 1)
			go m.Trigger(errFatal)
			go func() { delivered <- fake.deliver(syscall.SIGTERM) }()
			err := m.Wait()
			if err := <-delivered; err != nil {
				t.Fatal(err)
			}
			if len(began) != 1 {
				t.Fatalf("%d shutdowns began, want 1: %v", len(began), began)
			}
			cause := context.Cause(m.Context())
			if cause != began[0] {
				t.Errorf("Context's cause %v, but the shutdown began for %v", cause, began[0])
			}
			var se *SignalError
			switch {
			case errors.As(cause, &se) && err != nil:
				t.Errorf("the signal won, but Wait = %v", err)
			case errors.Is(cause, errFatal) && !errors.Is(err, errFatal):
				t.Errorf("Trigger won, but Wait = %v", err)
			}
		})
	}
}

// Context's cause says why shutdown began.
func TestContextCause(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T, m *Manager, f *fakeOS)
		check func(t *testing.T, cause error)
	}{
		{
			name:  "signal",
			start: func(t *testing.T, _ *Manager, f *fakeOS) { f.send(t, syscall.SIGTERM) },
			check: func(t *testing.T, cause error) {
				var se *SignalError
				if !errors.As(cause, &se) || se.Signal != syscall.SIGTERM || se.ExitCode() != 143 {
					t.Errorf("cause %v (%T), want a *SignalError for SIGTERM with exit code 143", cause, cause)
				}
			},
		},
		{
			name:  "Trigger with a cause",
			start: func(_ *testing.T, m *Manager, _ *fakeOS) { m.Trigger(errFatal) },
			check: func(t *testing.T, cause error) {
				if cause != errFatal {
					t.Errorf("cause %v, want %v", cause, errFatal)
				}
			},
		},
		{
			name:  "Trigger(nil)",
			start: func(_ *testing.T, m *Manager, _ *fakeOS) { m.Trigger(nil) },
			check: func(t *testing.T, cause error) {
				if cause != context.Canceled {
					t.Errorf("cause %v, want context.Canceled", cause)
				}
			},
		},
		{
			name: "server failure",
			start: func(_ *testing.T, m *Manager, _ *fakeOS) {
				m.Serve(&http.Server{ReadHeaderTimeout: time.Second}, failingListener{errAccept})
			},
			check: func(t *testing.T, cause error) {
				if !errors.Is(cause, errAccept) {
					t.Errorf("cause %v, want it to wrap %v", cause, errAccept)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fake fakeOS
				m := New(fake.option(), quiet(), DrainDelay(0))
				if err := m.Context().Err(); err != nil {
					t.Fatalf("Context done before shutdown: %v", err)
				}
				tt.start(t, m, &fake)
				<-m.Context().Done()
				tt.check(t, context.Cause(m.Context()))
				_ = m.Wait()
			})
		})
	}
}

// Wait returns the same result to every caller, however many and when.
func TestWaitTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake fakeOS
		m := New(fake.option(), quiet(), DrainDelay(0))
		m.Add("fails", func(context.Context) error { return errBoom })
		results := make(chan error, 3)
		for range 2 {
			go func() { results <- m.Wait() }()
		}
		m.Trigger(nil)
		results <- m.Wait()
		first := <-results
		for range 2 {
			if got := <-results; got != first {
				t.Errorf("Wait returned %v and %v", first, got)
			}
		}
		if again := m.Wait(); again != first || !errors.Is(again, errBoom) {
			t.Errorf("Wait again = %v, want %v", again, first)
		}
	})
}

// What comes too late: Serve after shutdown began does not serve and
// closes its listener; OnDrain after the drain is called at once; a hook
// added while hooks run runs next; one added after the end is refused.
func TestLateRegistration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake fakeOS
		rec := newRecorder()
		m := New(fake.option(), quiet(), rec.observe(), DrainDelay(time.Second))
		m.Add("outer", func(context.Context) error {
			m.Add("inner", func(context.Context) error { rec.add("run inner"); return nil })
			return nil
		})
		m.Trigger(nil)
		synctest.Wait() // drain delay under way

		pn := newPipeNet(t)
		m.Serve(testServer(), pn)
		if _, err := pn.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("listener given to a late Serve: Accept = %v, want it closed", err)
		}
		called := false
		m.OnDrain(func() { called = true })
		if !called {
			t.Error("OnDrain after the drain began was not called at once")
		}
		if err := m.Wait(); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		m.Add("after", func(context.Context) error { rec.add("run after"); return nil })
		equalLines(t, rec.got(), []string{
			"0s began: context canceled",
			"0s draining 1s err=false",
			"0s refused pipe",
			"1s hook done outer",
			"1s run inner",
			"1s hook done inner",
			"1s finished 1s err=false",
			"1s refused after",
		})
	})
}

// The zero Manager works, with the defaults: 5s drain, 25s budget, 5s
// per hook.
func TestZeroManager(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Manager
		start := time.Now()
		release := make(chan struct{})
		given := make(chan time.Duration, 1) // the hook is abandoned: no other ordering
		m.Add("stuck", func(ctx context.Context) error {
			deadline, _ := ctx.Deadline()
			given <- time.Until(deadline)
			<-release
			return nil
		})
		var drained time.Duration
		m.OnDrain(func() { drained = time.Since(start) })
		m.cfg.logger = slog.New(slog.DiscardHandler)
		m.Trigger(nil)
		err := m.Wait()
		close(release)
		if took, left := time.Since(start), <-given; took != 10*time.Second || drained != 0 || left != 5*time.Second {
			t.Errorf("drained at %v, hook given %v, done after %v; want 0s, the 5s HookTimeout, and 10s (5s drain + 5s)", drained, left, took)
		}
		if m.cfg.timeout != 25*time.Second {
			t.Errorf("budget %v, want the default 25s", m.cfg.timeout)
		}
		if !errors.Is(err, ErrStuck) {
			t.Errorf("Wait = %v, want the stuck hook", err)
		}
	})
}

// Serve on a port already in use comes back from Wait at once.
func TestServePortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var fake fakeOS
	m := New(fake.option(), quiet())
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Serve(&http.Server{ReadHeaderTimeout: time.Second}, other)
	m.Serve(&http.Server{Addr: busy.Addr().String(), ReadHeaderTimeout: time.Second}, nil)

	done := make(chan error, 1)
	go func() { done <- m.Wait() }()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), busy.Addr().String()) {
			t.Errorf("Wait = %v, want address in use naming %s", err, busy.Addr())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait still blocks 5s after Serve failed to listen")
	}
	if !errors.Is(context.Cause(m.Context()), syscall.EADDRINUSE) {
		t.Errorf("Context's cause %v, want the listen error", context.Cause(m.Context()))
	}
}

// One server on two listeners (IPv4 and IPv6, TCP and a unix socket):
// the second Serve must not rewrite srv.Handler while the first listener
// already serves requests that read it. Run under -race.
func TestServeOneServerTwice(t *testing.T) {
	var fake fakeOS
	m := New(fake.option(), quiet(), DrainDelay(0), Timeout(5*time.Second))
	srv := testServer()
	first, second := newPipeNet(t), newPipeNet(t)
	// One connection: a connection dialled and left unused would hold
	// Shutdown for 5s (net/http treats it as active until then).
	first.tr.MaxConnsPerHost = 1
	m.Serve(srv, first)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, _, err := first.get("/fast"); err != nil {
				errs <- err
			}
		})
	}
	m.Serve(srv, second) // while the first listener serves
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("first listener: %v", err)
	}

	m.Trigger(nil)
	if h, ok := srv.Handler.(*drainHandler); !ok {
		t.Errorf("srv.Handler is %T, want the draining wrapper", srv.Handler)
	} else if _, twice := h.next.(*drainHandler); twice {
		t.Error("srv.Handler wrapped twice")
	}
	if err := m.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}

var _ http.Handler = (*drainHandler)(nil)

// selfSigned returns a key pair for the host name "pipe" and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pipe"},
		DNSNames:     []string{"pipe"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Over HTTP/2 the "Connection: close" that Serve adds once draining is
// not sent (RFC 9113 forbids connection-specific fields) and is not an
// error: Go's HTTP/2 server strips it and sends GOAWAY, so the client
// finishes what it has in flight on that connection and opens a new one
// for its next request. This runs Go's real TLS and HTTP/2 stack over the
// in-memory network.
func TestServingDuringDrainHTTP2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cert, pool := selfSigned(t)
		var fake fakeOS
		m := New(fake.option(), quiet(), DrainDelay(2*time.Second))
		pn := newPipeNet(t)
		pn.tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "pipe", MinVersion: tls.VersionTLS12}
		pn.tr.ForceAttemptHTTP2 = true
		srv := testServer()
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		m.Serve(srv, pn)

		get := func(path string) (string, http.Header, error) {
			resp, err := (&http.Client{Transport: pn.tr}).Get("https://pipe" + path)
			if err != nil {
				return "", nil, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && (resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2) {
				err = fmt.Errorf("status %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
			}
			return string(b), resp.Header, err
		}

		if _, _, err := get("/fast"); err != nil {
			t.Fatalf("before the signal: %v", err)
		}
		slow := make(chan error, 1)
		go func() {
			body, _, err := get("/slow?d=3s")
			if err == nil && body != "done after 3s" {
				err = errors.New("truncated body " + body)
			}
			slow <- err
		}()
		synctest.Wait() // the slow request is in flight on the one connection
		fake.send(t, syscall.SIGTERM)

		time.Sleep(time.Second) // inside the drain
		_, h, err := get("/fast")
		if err != nil {
			t.Fatalf("during the drain: %v", err)
		}
		if v, ok := h["Connection"]; ok {
			t.Errorf("an HTTP/2 response carried Connection: %q", v)
		}
		if n := pn.dials.Load(); n != 1 {
			t.Errorf("%d connections dialled before the GOAWAY, want 1 (multiplexed)", n)
		}
		synctest.Wait() // the client has read the GOAWAY
		if _, _, err := get("/fast"); err != nil {
			t.Errorf("after the GOAWAY, still in the drain: %v", err)
		}
		if n := pn.dials.Load(); n != 2 {
			t.Errorf("%d connections dialled after the GOAWAY, want 2: the client kept the old one", n)
		}
		if err := <-slow; err != nil {
			t.Errorf("request in flight on the connection that got GOAWAY: %v", err)
		}
		if err := m.Wait(); err != nil {
			t.Errorf("Wait: %v", err)
		}
		pn.tr.CloseIdleConnections()
	})
}

// One hook cannot starve the rest: each gets the sooner of HookTimeout and
// an equal share of what is left among the hooks still to run. The hooks
// are given in the order of Add; they run last first.
func TestHookShare(t *testing.T) {
	type hook struct {
		name string
		hang bool          // ignores its context until the test ends
		took time.Duration // otherwise: how long it works
	}
	tests := []struct {
		name  string
		opts  []Option
		hooks []hook
		want  []string
	}{
		{
			// The trace flush against a dead collector on a real cluster:
			// it is cut at 5s, the pool and the logger are still closed,
			// and the shutdown ends at drain + slowest request (none
			// here; TestBudget has one) + 5s.
			name: "a dead collector",
			opts: []Option{Timeout(25 * time.Second), DrainDelay(5 * time.Second)},
			hooks: []hook{
				{name: "logs"},
				{name: "postgres", took: 100 * time.Millisecond},
				{name: "traces", hang: true},
			},
			want: []string{
				"0s began: shutdown: received signal terminated",
				"0s draining 5s err=false",
				"5s stopping pipe",
				"5s stopped 0s err=false",
				"10s hook stuck traces",
				"10.1s hook done postgres",
				"10.1s hook done logs",
				"10.1s finished 10.1s err=true",
			},
		},
		{
			name:  "every hook hangs: equal shares, each one runs",
			opts:  []Option{Timeout(10 * time.Second), DrainDelay(0), HookTimeout(time.Hour)},
			hooks: []hook{{name: "d", hang: true}, {name: "c", hang: true}, {name: "b", hang: true}, {name: "a", hang: true}},
			want: []string{
				"0s began: shutdown: received signal terminated",
				"0s stopping pipe",
				"0s stopped 0s err=false",
				"2.5s hook stuck a",
				"5s hook stuck b",
				"7.5s hook stuck c",
				"10s hook stuck d",
				"10s finished 10s err=true",
			},
		},
		{
			name:  "a hook that finishes early leaves its time to the next",
			opts:  []Option{Timeout(10 * time.Second), DrainDelay(0), HookTimeout(time.Hour)},
			hooks: []hook{{name: "b", hang: true}, {name: "a", took: time.Second}},
			want: []string{
				"0s began: shutdown: received signal terminated",
				"0s stopping pipe",
				"0s stopped 0s err=false",
				"1s hook done a",
				"10s hook stuck b",
				"10s finished 10s err=true",
			},
		},
		{
			name:  "HookTimeout set",
			opts:  []Option{Timeout(10 * time.Second), DrainDelay(0), HookTimeout(time.Second)},
			hooks: []hook{{name: "b"}, {name: "a", hang: true}},
			want: []string{
				"0s began: shutdown: received signal terminated",
				"0s stopping pipe",
				"0s stopped 0s err=false",
				"1s hook stuck a",
				"1s hook done b",
				"1s finished 1s err=true",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fake fakeOS
				rec := newRecorder()
				m := New(append(tt.opts, fake.option(), quiet(), rec.observe())...)
				m.Serve(testServer(), newPipeNet(t))
				release := make(chan struct{})
				defer close(release)
				for _, h := range tt.hooks {
					m.Add(h.name, func(context.Context) error {
						if h.hang {
							<-release
						}
						time.Sleep(h.took)
						return nil
					})
				}
				fake.send(t, syscall.SIGTERM)
				err := m.Wait()
				equalLines(t, rec.got(), tt.want)
				if !errors.Is(err, ErrStuck) || errors.Is(err, ErrNotRun) {
					t.Errorf("Wait = %v, want stuck hooks named and none left unrun", err)
				}
			})
		})
	}
}

// Workers: started with the Manager's Context; one that fails begins the
// shutdown with its error; after the servers stopped the shutdown waits
// for them, for their share of the budget, and only then runs the hooks.
func TestWorkers(t *testing.T) {
	errLost := errors.New("broker connection lost")
	tests := []struct {
		name    string
		opts    []Option
		workers map[string]func(ctx context.Context, release <-chan struct{}) error
		start   func(t *testing.T, m *Manager, f *fakeOS) // nil: the workers do
		want    []string
		wantErr string
	}{
		{
			name: "a worker that fails begins the shutdown, drain included",
			workers: map[string]func(context.Context, <-chan struct{}) error{
				"consumer": func(context.Context, <-chan struct{}) error { time.Sleep(time.Second); return errLost },
			},
			want: []string{
				"1s worker failed consumer",
				`1s began: shutdown: worker "consumer" failed: broker connection lost`,
				"1s draining 2s err=false",
				"3s stopping pipe",
				"3s stopped 0s err=false",
				"3s workers stopped 0s err=false",
				"3s hook done db",
				"3s finished 2s err=true",
			},
			wantErr: `shutdown: worker "consumer" failed: broker connection lost`,
		},
		{
			name: "a panicking worker is a failing one",
			workers: map[string]func(context.Context, <-chan struct{}) error{
				"warmer": func(context.Context, <-chan struct{}) error { panic("nil map") },
			},
			want: []string{
				"0s worker failed warmer",
				`0s began: shutdown: worker "warmer" failed: panic: nil map`,
				"0s draining 2s err=false",
				"2s stopping pipe",
				"2s stopped 0s err=false",
				"2s workers stopped 0s err=false",
				"2s hook done db",
				"2s finished 2s err=true",
			},
			wantErr: `shutdown: worker "warmer" failed: panic: nil map`,
		},
		{
			name: "servers stop, then workers finish, then hooks run",
			workers: map[string]func(context.Context, <-chan struct{}) error{
				// Finishes the message it holds: 3s after being told.
				"consumer": func(ctx context.Context, _ <-chan struct{}) error {
					<-ctx.Done()
					time.Sleep(3 * time.Second)
					return ctx.Err()
				},
				// Returns the cause: a clean stop too.
				"ticker": func(ctx context.Context, _ <-chan struct{}) error { <-ctx.Done(); return context.Cause(ctx) },
				// A one-off job: done before the shutdown, no error.
				"warm-up": func(context.Context, <-chan struct{}) error { return nil },
			},
			start: func(t *testing.T, _ *Manager, f *fakeOS) { time.Sleep(time.Second); f.send(t, syscall.SIGTERM) },
			want: []string{
				"1s began: shutdown: received signal terminated",
				"1s draining 2s err=false",
				"3s stopping pipe",
				"3s stopped 0s err=false",
				"4s workers stopped 1s err=false",
				"4s hook done db",
				"4s finished 3s err=false",
			},
		},
		{
			name: "a worker that ignores its context is named as stuck at its share",
			opts: []Option{Timeout(10 * time.Second), HookTimeout(time.Hour)},
			workers: map[string]func(context.Context, <-chan struct{}) error{
				"consumer": func(_ context.Context, release <-chan struct{}) error { <-release; return nil },
			},
			start: func(t *testing.T, _ *Manager, f *fakeOS) { f.send(t, syscall.SIGTERM) },
			// 8s left after the drain, for two steps (workers, db): 4s each.
			want: []string{
				"0s began: shutdown: received signal terminated",
				"0s draining 2s err=false",
				"2s stopping pipe",
				"2s stopped 0s err=false",
				"6s worker stuck consumer",
				"6s workers stopped 4s err=true",
				"6s hook done db",
				"6s finished 6s err=true",
			},
			wantErr: `shutdown: worker "consumer" stuck: still running 6s after shutdown began, when its time ran out`,
		},
		{
			name: "an error after shutdown began is reported, not a new cause",
			workers: map[string]func(context.Context, <-chan struct{}) error{
				"consumer": func(ctx context.Context, _ <-chan struct{}) error {
					<-ctx.Done()
					time.Sleep(time.Second)
					return fmt.Errorf("commit offsets: %w", errLost)
				},
			},
			start: func(_ *testing.T, m *Manager, _ *fakeOS) { m.Trigger(nil) },
			want: []string{
				"0s began: context canceled",
				"0s draining 2s err=false",
				"1s worker failed consumer",
				"2s stopping pipe",
				"2s stopped 0s err=false",
				"2s workers stopped 0s err=true",
				"2s hook done db",
				"2s finished 2s err=true",
			},
			wantErr: `shutdown: worker "consumer" failed: commit offsets: broker connection lost`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var fake fakeOS
				rec := newRecorder()
				m := New(append([]Option{fake.option(), quiet(), rec.observe(), DrainDelay(2 * time.Second)}, tt.opts...)...)
				m.Serve(testServer(), newPipeNet(t))
				m.Add("db", func(context.Context) error { return nil })
				release := make(chan struct{})
				defer close(release)
				for name, fn := range tt.workers {
					m.Go(name, func(ctx context.Context) error { return fn(ctx, release) })
				}
				if tt.start != nil {
					tt.start(t, m, &fake)
				}
				err := m.Wait()
				equalLines(t, rec.got(), tt.want)
				if got := errText(err); got != errText(errorString(tt.wantErr)) {
					t.Errorf("Wait = %v, want %s", err, tt.wantErr)
				}
				var we *WorkerError
				if tt.wantErr != "" && !errors.As(err, &we) {
					t.Errorf("Wait = %v, not a *WorkerError", err)
				}
			})
		})
	}
}

// errorString is text as an error, nil for "".
func errorString(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}

// A worker's error is the Context's cause and matches errors.Is; Go after
// shutdown began is refused and does not run fn.
func TestWorkerCauseAndLateGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake fakeOS
		rec := newRecorder()
		m := New(fake.option(), quiet(), rec.observe(), DrainDelay(0))
		m.Go("consumer", func(context.Context) error { return errBoom })
		<-m.Context().Done()
		var we *WorkerError
		if cause := context.Cause(m.Context()); !errors.As(cause, &we) || we.Name != "consumer" || !errors.Is(cause, errBoom) {
			t.Errorf("cause %v, want a *WorkerError for consumer wrapping %v", cause, errBoom)
		}
		ran := false
		m.Go("late", func(context.Context) error { ran = true; return nil })
		m.Go("nil", nil)
		if err := m.Wait(); !errors.Is(err, errBoom) {
			t.Errorf("Wait = %v, want the worker's error", err)
		}
		synctest.Wait()
		if ran {
			t.Error("a worker added after shutdown began was started")
		}
		if got := rec.got(); !slices.Contains(got, "0s refused late") {
			t.Errorf("events %q, want the late worker refused", got)
		}
	})
}
