package shutdown_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/prodready/prodready/shutdown"
)

// A service's main: serve, register what to close, wait. In production
// SIGTERM begins the shutdown; here Trigger stands in for it.
func ExampleNew() {
	sd := shutdown.New(
		shutdown.Timeout(20*time.Second),
		shutdown.DrainDelay(0), // in production keep the default 5s
		shutdown.Logger(slog.New(slog.DiscardHandler)),
	)
	sd.OnDrain(func() { fmt.Println("readiness: 503 from now on") })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	sd.Serve(&http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}, ln)
	sd.Add("database", func(context.Context) error {
		fmt.Println("closing the database")
		return nil
	})
	sd.Add("traces", func(ctx context.Context) error {
		fmt.Println("flushing traces") // opened last, closed first
		return nil
	})

	sd.Trigger(nil) // SIGTERM does this
	fmt.Println("clean:", sd.Wait() == nil)
	// Output:
	// readiness: 503 from now on
	// flushing traces
	// closing the database
	// clean: true
}

// Background workers stop on the Manager's context; its cause says why.
func ExampleManager_Context() {
	sd := shutdown.New(shutdown.DrainDelay(0), shutdown.Logger(slog.New(slog.DiscardHandler)))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-sd.Context().Done() // a worker loop would select on this
		fmt.Println("worker stops:", context.Cause(sd.Context()))
	}()

	sd.Trigger(errors.New("queue consumer: connection lost"))
	<-stopped
	fmt.Println("wait:", sd.Wait())

	var sig *shutdown.SignalError
	fmt.Println("signal:", errors.As(context.Cause(sd.Context()), &sig))
	// Output:
	// worker stops: queue consumer: connection lost
	// wait: queue consumer: connection lost
	// signal: false
}

// Everything fits in the budget. A hook that ignores its context gets an
// equal share of what is left (here 50ms of 100ms, two hooks to go), is
// abandoned and named in Wait's error; the hook after it still runs.
func ExampleTimeout() {
	sd := shutdown.New(
		shutdown.Timeout(100*time.Millisecond),
		shutdown.DrainDelay(0),
		shutdown.Logger(slog.New(slog.DiscardHandler)),
	)
	release := make(chan struct{})
	defer close(release)
	sd.Add("database", func(context.Context) error {
		fmt.Println("database closed")
		return nil
	})
	sd.Add("cache", func(context.Context) error {
		<-release // ignores its context
		return nil
	})

	sd.Trigger(nil)
	err := sd.Wait()
	var he *shutdown.HookError
	if errors.As(err, &he) {
		fmt.Println(he.Name, errors.Is(err, shutdown.ErrStuck))
	}
	// Output:
	// database closed
	// cache true
}

// A trace flush to a collector that is gone cannot take the budget of the
// hooks after it: it is cut at HookTimeout.
func ExampleHookTimeout() {
	sd := shutdown.New(
		shutdown.HookTimeout(50*time.Millisecond), // default 5s
		shutdown.DrainDelay(0),
		shutdown.Logger(slog.New(slog.DiscardHandler)),
	)
	sd.Add("logs", func(context.Context) error {
		fmt.Println("logs synced")
		return nil
	})
	release := make(chan struct{})
	defer close(release)
	sd.Add("traces", func(context.Context) error {
		<-release // an exporter waiting for an answer that never comes
		return nil
	})
	start := time.Now()
	sd.Trigger(nil)
	err := sd.Wait()
	fmt.Println("under a second:", time.Since(start) < time.Second)
	var he *shutdown.HookError
	fmt.Println(errors.As(err, &he) && he.Name == "traces" && errors.Is(err, shutdown.ErrStuck))
	// Output:
	// logs synced
	// under a second: true
	// true
}

// A supervised worker: it stops when shutdown begins, and the servers have
// stopped before the shutdown waits for it, the hooks run after it.
func ExampleManager_Go() {
	sd := shutdown.New(shutdown.DrainDelay(0), shutdown.Logger(slog.New(slog.DiscardHandler)))
	jobs := make(chan string)
	sd.Go("consumer", func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				fmt.Println("consumer stopped")
				return ctx.Err() // a clean stop once shutdown began
			case j := <-jobs:
				fmt.Println("handled", j)
			}
		}
	})
	sd.Add("database", func(context.Context) error {
		fmt.Println("database closed")
		return nil
	})
	jobs <- "order-1"
	sd.Trigger(nil)
	fmt.Println("clean:", sd.Wait() == nil)
	// Output:
	// handled order-1
	// consumer stopped
	// database closed
	// clean: true
}

// A worker that fails begins the shutdown, with its error as the cause.
func ExampleManager_Go_failure() {
	sd := shutdown.New(shutdown.DrainDelay(0), shutdown.Logger(slog.New(slog.DiscardHandler)))
	sd.Go("consumer", func(context.Context) error {
		return errors.New("broker connection lost")
	})
	<-sd.Context().Done()
	fmt.Println(context.Cause(sd.Context()))
	fmt.Println(sd.Wait())
	// Output:
	// shutdown: worker "consumer" failed: broker connection lost
	// shutdown: worker "consumer" failed: broker connection lost
}

// Each step as a typed event, for metrics or a logger of your own.
func ExampleOnEvent() {
	sd := shutdown.New(
		shutdown.DrainDelay(0),
		shutdown.Logger(slog.New(slog.DiscardHandler)),
		shutdown.OnEvent(func(ev shutdown.Event) {
			fmt.Println(strings.TrimSpace(ev.Step.String() + " " + ev.Name))
		}),
	)
	sd.Add("database", func(context.Context) error { return nil })
	sd.Add("traces", func(context.Context) error { return errors.New("collector unreachable") })
	sd.Trigger(nil)
	_ = sd.Wait()
	// Output:
	// began
	// hook failed traces
	// hook done database
	// finished
}

// The steps logged through slog; here as text without timestamps.
func ExampleLogger() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
	sd := shutdown.New(shutdown.DrainDelay(0), shutdown.Timeout(10*time.Second), shutdown.Logger(logger))
	sd.Add("database", func(context.Context) error { return nil })
	sd.Trigger(nil)
	_ = sd.Wait()
	// Output:
	// level=INFO msg="shutdown began" cause="context canceled" timeout=10s
	// level=INFO msg="hook done" hook=database
	// level=INFO msg="shutdown done"
}

// Listen to SIGTERM only, and let a second one restore Go's default
// handling instead of exiting.
func ExampleSignals() {
	sd := shutdown.New(
		shutdown.Signals(syscall.SIGTERM),
		shutdown.ExitOnSecondSignal(false),
		shutdown.DrainDelay(0),
		shutdown.Logger(slog.New(slog.DiscardHandler)),
	)
	sd.Trigger(nil)
	fmt.Println(sd.Wait())
	// Output:
	// <nil>
}
