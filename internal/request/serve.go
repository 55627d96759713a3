package request

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
)

// A Recorder is what one of prodready's middlewares adds to the protocol
// that Serve runs: the work it does on a request before the handler, and
// what it records once the request is done.
type Recorder interface {
	// Begin runs once the layer has claimed the request, before next. w
	// and r are what next will get. It reports whether the layer records
	// this request: false (a skipped path, an access log turned off)
	// means Record is not called, while the request still passes through
	// the protocol (recovery, route capture).
	Begin(s *State, w http.ResponseWriter, r *http.Request) bool
	// Record runs once next has returned or panicked, with the request it
	// was given and the request's one Outcome.
	Record(s *State, r *http.Request, o *Outcome)
}

// An Answerer is a Recorder that may still answer the request once next
// has returned without panicking, before the Outcome is decided: the
// request deadline's 504.
type Answerer interface {
	Answer(s *State, w http.ResponseWriter, r *http.Request)
}

// Serve is the protocol every prodready HTTP middleware follows, written
// once: it enters the request state ctx carries or creates it (ctx is the
// context the layer hands down: r.Context(), or one derived from it),
// claims the request for the layer's kind (a layer applied twice only
// passes the request on), runs rec.Begin, then next; on every exit, return
// or panic, it captures the route, and the first of prodready's layers to
// see a panic recovers it (Recover). A recording layer then decides the
// Outcome (Finish, once per request) and records it.
//
// The outermost of prodready's layers (the one that created the state)
// ends the protocol: when the handler panicked after its response had
// begun, or with http.ErrAbortHandler, it panics with
// http.ErrAbortHandler, so net/http aborts the connection without a
// stack dump; the client must not take a cut response for a whole one.
// A panic before anything was written has been answered (Recover) and
// ends there. The panic's stack is logged once: on the access line when
// the logging middleware records the request, otherwise here, through the
// state's logger.
//
// rec nil records nothing (a layer such as the request deadline that acts
// on the response but keeps no record).
func Serve(kind Layer, ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler, rec Recorder) {
	s, w, r, created := enter(ctx, w, r)
	if !s.Claim(kind) {
		defer s.CaptureRoute(r)
		next.ServeHTTP(w, r)
		return
	}
	records := rec != nil && rec.Begin(s, w, r)
	returned := false
	defer func() {
		if !returned {
			// A panic, or runtime.Goexit (t.FailNow in a test handler),
			// for which recover returns nil and which goes on regardless.
			s.Recover(recover())
		}
		s.CaptureRoute(r)
		if a, ok := rec.(Answerer); ok && !s.panicked {
			a.Answer(s, w, r)
		}
		if records {
			rec.Record(s, r, s.Finish(r))
		}
		if created {
			s.end(r)
		}
	}()
	next.ServeHTTP(w, r)
	returned = true
}

// Pass hands r to next for a layer that records nothing on it (a skipped
// path, an unsampled span): it joins the state ctx carries, if any, and
// claims kind on it so that a second layer of the same kind further in
// does not take the request up, and captures the route on every exit. It
// creates no state and recovers nothing. kind 0 claims nothing.
func Pass(kind Layer, ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler) {
	s := From(ctx)
	r = join(s, ctx, r)
	if kind != 0 {
		s.Claim(kind)
	}
	defer s.CaptureRoute(r)
	next.ServeHTTP(w, r)
}

// Recover records a panic of the handler, with v the value recovered (nil
// for runtime.Goexit), the first time one of prodready's layers sees it:
// it keeps the stack (bounded, for the one log line) and, when nothing has
// been written yet, answers the client with a 500 and a small JSON body
// carrying the correlation ID, instead of the closed connection net/http
// would leave. http.ErrAbortHandler is the handler's own request to abort:
// it is not answered and its stack is not kept.
func (s *State) Recover(v any) {
	if s.panicked {
		return
	}
	s.panicked = true
	s.panic = &panicState{value: v, begun: s.w.status != 0}
	if v == nil {
		return // runtime.Goexit: the goroutine is ending, nothing to answer
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // net/http compares it the same way
		return
	}
	s.panic.stack = bounded(string(debug.Stack()), MaxStackBytes)
	if s.w.status != 0 || s.w.hijacked {
		return
	}
	h := s.w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	s.w.WriteHeader(http.StatusInternalServerError)
	id := ""
	if c, ok := s.Logging.(interface{ CorrelationID() string }); ok {
		id = c.CorrelationID()
	}
	_, _ = s.w.Write(panicBody(id))
}

// panicBody is the body of the 500 a panic is answered with.
func panicBody(id string) []byte {
	b := make([]byte, 0, 80+len(id))
	b = append(b, `{"error":"internal server error"`...)
	if id != "" {
		// A correlation ID is 1–128 characters of [A-Za-z0-9._:-]: it
		// needs no escaping.
		b = append(b, `,"correlation_id":`...)
		b = strconv.AppendQuote(b, id)
	}
	return append(b, "}\n"...)
}

// end is the outermost layer's last step: it logs a panic that no access
// line carried and aborts the connection when the response cannot be
// whole.
func (s *State) end(r *http.Request) {
	if !s.panicked || s.panic.value == nil {
		return
	}
	p := s.panic
	abort := p.value == http.ErrAbortHandler //nolint:errorlint // net/http compares it the same way
	if !abort && !p.logged {
		s.logger().LogAttrs(s, slog.LevelError, "panic serving request",
			slog.String("method", Method(r.Method)),
			slog.String("route", s.Route()),
			slog.String("panic", bounded(panicString(p.value), MaxValueBytes)),
			slog.String("stack", p.stack))
	}
	if abort || p.begun || s.w.hijacked {
		panic(http.ErrAbortHandler)
	}
}

// Panicked reports whether the handler panicked, with the value recovered
// (nil for runtime.Goexit).
func (s *State) Panicked() (bool, any) {
	if !s.panicked {
		return false, nil
	}
	return true, s.panic.value
}

// Stack returns the stack of the handler's panic, cut to MaxStackBytes, or
// "" when it did not panic (or aborted with http.ErrAbortHandler).
func (s *State) Stack() string {
	if !s.panicked {
		return ""
	}
	return s.panic.stack
}

// StackLogged records that a layer's line carried the panic's stack, so
// that it is logged once.
func (s *State) StackLogged() {
	if s.panicked {
		s.panic.logged = true
	}
}

// SetLogger sets the logger the protocol's own lines (a panic that no
// access line recorded, the lost-route warning) go to. The logging
// middleware's wins over one a telemetry layer passes: strong says which
// this is.
func (s *State) SetLogger(l *slog.Logger, strong bool) {
	if l != nil && (strong || s.log == nil) {
		s.log = l
	}
}

func (s *State) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}

// The bounds on what a client or a panic can put into one log line.
const (
	MaxValueBytes = 1 << 10 // a value a client controls, a panic value
	MaxStackBytes = 8 << 10 // a panic's stack
)

// Truncated ends a value cut short.
const Truncated = "...[truncated]"

// bounded returns s cut to at most max bytes, ending in Truncated when
// cut, at a UTF-8 boundary.
func bounded(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(Truncated)
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + Truncated
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func panicString(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}
