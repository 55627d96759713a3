package request

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"sync"
	"time"
)

// Outcome is what every layer records about a finished request: the first
// layer to finish decides it (Finish) and the others read the same values.
type Outcome struct {
	Route string // the route template, or Unmatched
	// Status is the status code the client was sent: the one the handler
	// wrote, 200 if it wrote none and returned, 101 for a hijacked
	// connection with none written, 500 if it panicked before writing
	// one, 503 when http.TimeoutHandler answered in its place, and 499
	// (StatusClientClosed) when the client went away before anything was
	// written.
	Status int
	// ErrorType is empty for a request that succeeded. Otherwise it is the
	// status code for a 5xx response, or one of the Fail constants when
	// the response did not reach the client as the status says. It is the
	// error.type of the OpenTelemetry semantic conventions.
	ErrorType string
	Bytes     int64         // body bytes written that reached the client's connection
	End       time.Time     // when the first of prodready's layers finished
	Duration  time.Duration // from when the first of them entered to End
}

// StatusClientClosed is the status recorded for a request whose client
// went away before anything was written: 499, as nginx and Envoy-based
// proxies record it. It is never sent.
const StatusClientClosed = 499

// The error types of a response that failed whatever its status. Each
// names what happened, in the low-cardinality form error.type asks for.
const (
	// FailPanic: the handler panicked (with anything but
	// http.ErrAbortHandler); net/http breaks the connection or stream.
	FailPanic = "panic"
	// FailAborted: the handler panicked with http.ErrAbortHandler, as
	// httputil.ReverseProxy does when the upstream response breaks.
	FailAborted = "aborted"
	// FailTimeout: http.TimeoutHandler, outside, answered 503 because the
	// handler was still running.
	FailTimeout = "timeout"
	// FailWriteTimeout: the handler returned after the server's
	// WriteTimeout (or the deadline it set with
	// http.ResponseController.SetWriteDeadline), or a write hit that
	// deadline: the client got nothing, or a cut response.
	FailWriteTimeout = "write_timeout"
	// FailClientGone: the client went away before the handler returned
	// (the request context was cancelled), or a write or flush of the
	// response failed.
	FailClientGone = "client_gone"
	// FailShed: the server refused the request before any handler work
	// (server.Admission), to keep what it admits within time; the
	// client may retry after Retry-After.
	FailShed = "shed"
)

// Finish decides the request's Outcome on the first call and returns it on
// every call; Serve calls it for each recording layer once next has
// returned or panicked, with the request the layer passed down (its
// pattern is captured first).
func (s *State) Finish(r *http.Request) *Outcome {
	if s.done {
		return &s.out
	}
	s.CaptureRoute(r)
	s.done = true
	o := &s.out
	o.End, o.Bytes = time.Now(), s.w.bytes
	o.Duration = o.End.Sub(s.start)
	if p := s.route.Load(); p != nil {
		o.Route = Route(*p)
	}
	s.classify(o)
	if o.Route == "" {
		o.Route = Unmatched
		if !s.hooked.Load() && routeExpected(o.Status) {
			s.warnRouteLost(r.Method, o.Status)
		}
	}
	return o
}

// classify sets the status and error type.
func (s *State) classify(o *Outcome) {
	status := s.w.status
	if status == 0 && s.w.hijacked {
		status = http.StatusSwitchingProtocols
	}
	ctxErr := s.Context.Err()
	switch {
	case s.timedOut(ctxErr):
		o.Status, o.ErrorType, o.Bytes = http.StatusServiceUnavailable, FailTimeout, 0
		return
	case s.panicked:
		if status == 0 {
			status = http.StatusInternalServerError
		}
		o.ErrorType = FailPanic
		if s.panic.value == http.ErrAbortHandler { //nolint:errorlint // net/http compares it the same way
			o.ErrorType = FailAborted
		}
	default:
		if !s.w.hijacked { // a hijacked connection is the handler's own
			o.ErrorType = s.undelivered(o.End, ctxErr)
		}
		if status == 0 {
			status = http.StatusOK
			if o.ErrorType == FailClientGone {
				// Nothing was sent: no 200 to record. 499 is the status
				// proxies (nginx) record for a client that closed the
				// request first.
				status = StatusClientClosed
			}
		}
	}
	o.Status = status
	if o.ErrorType == "" && status >= 500 && status <= 599 {
		o.ErrorType = serverErrors[status-500]
	}
	if s.fail != "" && status >= 500 && status <= 599 && o.ErrorType == serverErrors[status-500] {
		o.ErrorType = s.fail // the 5xx the layer that set it wrote
	}
}

// Fail records the error type of the answer a layer gave instead of the
// handler's, such as FailShed: it replaces the status code as the error
// type when the request ends with a 5xx and nothing worse (a panic, a
// client gone) happened.
func (s *State) Fail(errorType string) {
	if s != nil {
		s.fail = errorType
	}
}

// serverErrors are the error types of 5xx statuses, so naming one does not
// allocate.
var serverErrors = func() (s [100]string) {
	for i := range s {
		s[i] = strconv.Itoa(500 + i)
	}
	return s
}()

// timedOut reports whether http.TimeoutHandler answered in the handler's
// place: a write returned its ErrHandlerTimeout, or the deadline it set
// has passed (ctxErr is the request context's error) and its writer is
// beneath ours.
func (s *State) timedOut(ctxErr error) bool {
	if s.w.err != nil && errors.Is(s.w.err, http.ErrHandlerTimeout) {
		return true
	}
	return ctxErr == context.DeadlineExceeded && underTimeoutHandler(s.w.ResponseWriter) //nolint:errorlint // the context's own value
}

// undelivered returns the error type of a response that the handler
// completed but that could not, or did not, reach the client, or "".
func (s *State) undelivered(end time.Time, ctxErr error) string {
	if d := s.w.deadline; d != nil {
		if !d.IsZero() && !end.Before(*d) {
			return FailWriteTimeout
		}
	} else if srv, _ := s.Context.Value(http.ServerContextKey).(*http.Server); srv != nil && srv.WriteTimeout > 0 &&
		end.Sub(s.start) >= srv.WriteTimeout {
		// net/http set the connection's write deadline when it read the
		// request, before we started: it has passed, and what the handler
		// wrote (at least the end of it) can no longer be sent.
		return FailWriteTimeout
	}
	if err := s.w.err; err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return FailWriteTimeout
		}
		return FailClientGone
	}
	if ctxErr == context.Canceled { //nolint:errorlint // the context's own value
		return FailClientGone
	}
	return ""
}

// timeoutWriterType is the type of the ResponseWriter http.TimeoutHandler
// hands its handler, learnt by running one once.
var timeoutWriterType = sync.OnceValue(func() reflect.Type {
	var t reflect.Type
	h := http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t = reflect.TypeOf(w)
	}), time.Hour, "")
	h.ServeHTTP(nopWriter{}, &http.Request{Method: http.MethodGet, Header: http.Header{}})
	return t
})

type nopWriter struct{}

func (nopWriter) Header() http.Header         { return http.Header{} }
func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriter) WriteHeader(int)             {}

// underTimeoutHandler reports whether w is http.TimeoutHandler's writer,
// or unwraps to it.
func underTimeoutHandler(w http.ResponseWriter) bool {
	tw := timeoutWriterType()
	for range 16 { // a bound on a writer that unwraps to itself
		if reflect.TypeOf(w) == tw {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

// routeExpected reports whether a response with status code came from a
// handler a ServeMux matched: 2xx and 3xx, but not 307, which the mux
// sends itself to clean the path of a request it did not match.
func routeExpected(code int) bool {
	return code >= 200 && code < 400 && code != http.StatusTemporaryRedirect
}

// routeWarning makes the route warning once per process.
var routeWarning sync.Once

// RouteWarning is the message of the warning logged, once per process, for
// the first 2xx or 3xx response with no route. It goes to the logger the
// logging middleware was given (or the Logger option of metrics or
// tracing), never to stderr on its own.
const RouteWarning = "prodready: a 2xx/3xx response has no route and is recorded as \"unmatched\": " +
	"the route the router matched did not reach prodready's middlewares. Fix, by router: " +
	"http.ServeMux: wrap it, prodready.Routes(mux); " +
	"chi: r.Use(prodready.RouteFunc(func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() })); " +
	"gorilla/mux: r.Use(prodready.RouteFunc(func(r *http.Request) string { t, _ := mux.CurrentRoute(r).GetPathTemplate(); return t })); " +
	"a single handler: prodready.Route(pattern, h). Logged once per process."

func (s *State) warnRouteLost(method string, status int) {
	routeWarning.Do(func() {
		s.logger().LogAttrs(s, slog.LevelWarn, RouteWarning,
			slog.String("method", Method(method)), slog.Int("status", status))
	})
}
