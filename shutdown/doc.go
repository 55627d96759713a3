// Package shutdown takes a service from SIGTERM to a clean exit inside one
// deadline, without dropping the requests it was serving.
//
// Kubernetes sends SIGTERM at the same moment it starts removing the pod
// from the Service's endpoints, and that removal takes seconds to reach
// kube-proxy and the ingress controllers. A service that calls
// Server.Shutdown on the signal closes its listener while traffic is still
// being sent to it; one that never bounds its shutdown is SIGKILLed at the
// end of the grace period with its traces unflushed; one whose cleanup
// hangs gives no hint of which step hung. signal.NotifyContext plus
// Server.Shutdown by hand, oklog/run and fx's lifecycle each solve part of
// this. A Manager does all of it, in one order, under one budget.
//
// # The order
//
// On SIGTERM, SIGINT or SIGHUP (or Trigger, a worker that fails, a server
// that fails to listen):
//
//  1. Context() is cancelled; context.Cause says why (a *SignalError, a
//     *WorkerError, ...). Workers started with Go are told to stop.
//  2. The OnDrain callbacks run: readiness goes red. Every response from
//     now on carries "Connection: close" (over HTTP/2, Go's server sends
//     GOAWAY instead), so clients holding a connection dial again and
//     reach another instance; idle connections are not cut
//     (that would race clients sending on them) until Shutdown.
//  3. The drain delay (DrainDelay, default 5s): servers keep serving while
//     load balancers take the instance out. Skipped on SIGINT, which is
//     Ctrl-C at a terminal, and when a server failed.
//  4. Every server's Shutdown, in parallel: in-flight requests finish,
//     within the servers' share of the budget (below).
//  5. The workers (Go): the Manager waits for them to return, now that no
//     request can hand them work, and before the hooks close what they
//     use. One still running after its share of the budget is abandoned
//     and named as stuck.
//  6. The hooks, last added first like defer. An error or a panic is
//     reported and the next hook runs.
//
// Everything fits in Timeout (default 25s, under Kubernetes' default 30s
// grace period). Steps 5 and 6 each get at most HookTimeout (default 5s),
// or an equal share of what is left of the budget among the steps still
// to run when that is less: a trace flush hung on a collector that is gone
// is abandoned after 5s, and the pool close and log sync after it still
// run.
//
// The servers' share ends where the steps after them need the rest: each
// hook's HookTimeout and one for the workers, at most half of what is left
// after the drain (with the defaults and three hooks: the servers have
// until 15s, the hooks the last 10s). A request in flight that would
// outlast it (a 30s request under a 25s budget) does not hold the hooks
// back: a second before the share ends, every request still running has
// its context ended with the cause ErrBudget, so a handler that honours
// its context answers (a 503 the client sees, which server.Deadline
// writes for a handler that wrote nothing) instead of being cut by Close
// with an empty reply, and the hooks run. Serve sets the server's
// BaseContext for this, keeping one the server had.
//
// Past the budget servers are closed, a hook still running is
// abandoned, hooks not yet run are skipped, and Wait names each of them
// and how long it ran. A second signal exits at once with status
// 128+signal (143 for SIGTERM, 130 for SIGINT) after one log line; that is
// the library's only os.Exit, and ExitOnSecondSignal(false) turns it off.
//
// # Usage
//
//	func run() error {
//		sd := shutdown.New(shutdown.Logger(logger))
//		sd.OnDrain(checks.Drain) // readiness 503 from the first moment
//		sd.Serve(&http.Server{Addr: ":8080", Handler: api}, nil)
//		sd.Serve(&http.Server{Addr: ":9090", Handler: admin}, nil)
//		sd.Go("consumer", consume) // stops when shutdown begins; an error begins it
//		sd.Add("postgres", func(context.Context) error { return db.Close() })
//		sd.Add("traces", tracerProvider.Shutdown) // runs before postgres
//		return sd.Wait() // nil on a clean shutdown
//	}
//
// Serve returns at once; a listener error (the port is in use) begins the
// shutdown and comes back from Wait instead of hanging.
// http.ErrServerClosed is never an error.
//
// # Signals
//
// SIGTERM (Kubernetes, Docker, systemd) and SIGINT (Ctrl-C) begin the
// shutdown, and so does SIGHUP: Go's default for it is to die at once,
// mid-request, and in a container nothing sends SIGHUP to mean "reload
// your configuration"; it means the terminal or the session that started
// the process is gone, so the service leaves as it would on SIGTERM, drain
// delay included. A process started under nohup, which ignores SIGHUP,
// keeps ignoring it. Signals replaces the set.
//
// A Manager that handles signals also asks for SIGPIPE, for one reason:
// without that, Go ends the process (exit status 141 in a shell) on a write
// to stdout or stderr whose reader has gone, such as a log shipper that
// restarted; with it, the write fails with EPIPE, which the logger reports
// (zap to its ErrorOutput) while the service serves on and still shuts down
// cleanly. This holds for the life of the process, after Wait too. The
// process's other signals are left alone.
//
// # Observing it
//
// Each step is logged through log/slog (Logger; slog.Default() when not
// set, logging.Slog for zap): "shutdown began", "draining", "servers
// stopped" with the time it took, "workers stopped", "worker failed",
// "hook done", "hook failed", "hook still running when its time ran out".
// OnEvent gives the same steps as typed Events, for metrics or a logger of
// your own.
//
// # Kubernetes
//
// Keep drain delay + slowest request + workers + hooks under Timeout, and
// Timeout under terminationGracePeriodSeconds (default 30s) with a few
// seconds to spare. A preStop sleep is not needed: the drain delay does its job
// inside the process.
package shutdown
