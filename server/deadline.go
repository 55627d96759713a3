package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prodready/prodready/internal/request"
)

// ErrDeadline is the cause (context.Cause) of a request context that
// Deadline ended, to tell it from a client that went away
// (context.Canceled) or a deadline of the caller's own.
var ErrDeadline = errors.New("server: request deadline exceeded")

// Deadline returns a middleware that ends each request's context d after
// the handler starts, with the cause ErrDeadline: the database query, the
// call to another service, whatever the handler waits on through the
// context returns then, and the handler with it. d zero or less adds no
// deadline.
//
// Nothing is buffered: the handler writes to the connection as without it,
// so streaming and Flush keep working (http.Flusher and
// http.ResponseController alike), unlike http.TimeoutHandler. The price is
// that the middleware cannot answer for a handler that ignores its
// context: the handler must return when ctx.Done() is closed, with an
// answer of its own (orders answers a JSON 504). A handler that returns
// after the deadline without having written anything gets "504 Gateway
// Timeout" from the middleware, never net/http's empty 200; one that had
// started its response keeps it as written. The same holds for a request
// context the server ended (shutdown.Manager ends the requests that its
// budget cannot wait for, cause shutdown.ErrBudget): "503 Service
// Unavailable" with Retry-After.
//
// # Against the server's timeouts
//
// http.Server's WriteTimeout (45s from New) counts from the end of the
// request headers, about when the handler starts, and when it passes, the
// connection is closed under the handler, which goes on running with its
// context alive: the client gets an empty reply, the logs a 200. Keep d
// below WriteTimeout by the time the handler needs to write its answer
// (a second is plenty), so that the deadline, not the write timeout,
// ends a slow request:
//
//	srv := server.New(":8080", nil)
//	deadline := server.Deadline(srv.WriteTimeout - 5*time.Second) // 40s
//	srv.Handler = tracing.Middleware()(logging.Middleware(log)(red(deadline(mux))))
//
// # Where it goes
//
// Innermost, inside prodready's logging, metrics and tracing middlewares,
// next to the mux: they record the status after the handler returns, and
// the 504 the deadline writes is then one they see. Outside them, it
// would be written after they recorded 200. The deadline joins their
// per-request state and its response writer, so it adds no writer of its
// own to a request they wrap; directly beneath them it is kept in that
// state, and costs no allocation until the handler waits on its context.
func Deadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if d <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Beneath prodready's other layers the request's context is
			// their state, which keeps the deadline without a context,
			// timer or request copy until something waits on it.
			if s, ok := request.Arm(r.Context(), d, ErrDeadline); ok {
				defer s.Disarm()
				request.Serve(request.Deadline, r.Context(), w, r, next, deadline{})
				return
			}
			ctx, cancel := context.WithTimeoutCause(r.Context(), d, ErrDeadline)
			defer cancel()
			request.Serve(request.Deadline, ctx, w, r, next, deadline{})
		})
	}
}

// deadline is the request protocol's view of the middleware: it records
// nothing, and answers 504 for a handler that returned after the deadline
// without writing.
type deadline struct{}

func (deadline) Begin(*request.State, http.ResponseWriter, *http.Request) bool { return false }

func (deadline) Record(*request.State, *http.Request, *request.Outcome) {}

func (deadline) Answer(s *request.State, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.Status() != 0 || s.Hijacked() || ctx.Err() == nil {
		return
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrDeadline):
		http.Error(w, "request deadline exceeded", http.StatusGatewayTimeout)
	case !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded):
		// The server ended it with a cause of its own (shutdown.ErrBudget:
		// the shutdown's budget left it no more time): the client may
		// retry elsewhere. context.Canceled is a client that left,
		// DeadlineExceeded a deadline of the caller's.
		w.Header().Set("Retry-After", "1")
		http.Error(w, "service unavailable: the server is stopping", http.StatusServiceUnavailable)
	}
}
