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
// On SIGTERM or SIGINT (or Trigger, or a server that fails to listen):
//
//  1. Context() is cancelled; context.Cause says why (a *SignalError).
//  2. The OnDrain callbacks run: readiness goes red. Every response from
//     now on carries "Connection: close" (over HTTP/2, Go's server sends
//     GOAWAY instead), so clients holding a connection dial again and
//     reach another instance; idle connections are not cut
//     (that would race clients sending on them) until Shutdown.
//  3. The drain delay (DrainDelay, default 5s): servers keep serving while
//     load balancers take the instance out. Skipped on SIGINT, which is
//     Ctrl-C at a terminal, and when a server failed.
//  4. Every server's Shutdown, in parallel: in-flight requests finish.
//  5. The hooks, last added first like defer, each with the remaining
//     budget. An error or a panic is reported and the next hook runs.
//
// Everything fits in Timeout (default 25s, under Kubernetes' default 30s
// grace period). Past it servers are closed, a hook still running is
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
//		go worker(sd.Context()) // stops when shutdown begins
//		sd.Add("postgres", func(context.Context) error { return db.Close() })
//		sd.Add("traces", tracerProvider.Shutdown) // runs before postgres
//		return sd.Wait() // nil on a clean shutdown
//	}
//
// Serve returns at once; a listener error (the port is in use) begins the
// shutdown and comes back from Wait instead of hanging.
// http.ErrServerClosed is never an error.
//
// # Observing it
//
// Each step is logged through log/slog (Logger; slog.Default() when not
// set): "shutdown began", "draining", "servers stopped" with the time it
// took, "hook done", "hook failed", "hook still running when the budget
// ran out". OnEvent gives the same steps as typed Events, for metrics or a
// logger of your own.
//
// # Kubernetes
//
// Keep drain delay + slowest request + hooks under Timeout, and Timeout
// under terminationGracePeriodSeconds (default 30s) with a few seconds to
// spare. A preStop sleep is not needed: the drain delay does its job
// inside the process.
package shutdown
