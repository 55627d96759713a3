// Package request holds what prodready's HTTP middlewares (logging,
// metrics, tracing) share about a request: the route of the matched
// pattern, one response-capturing writer with the status, byte count,
// hijack state and write errors, the outcome of the request that all three
// record, and the normalisation of methods. Logging keeps its own data in
// one opaque slot; nothing else here belongs to one middleware.
//
// Every layer runs the one protocol, Serve: the first of our middlewares
// to see a request creates the state; the others find it in the context
// and reuse it, so a request that passes through all three is wrapped
// once. Whichever of ours runs innermost copies r.Pattern into the state
// after the mux has matched, on every exit, panics included; when a user
// middleware between it and the router hides the pattern
// (r.WithContext), Routes around a ServeMux, or RouteFunc inside any
// other router, hands it up instead. The first layer to finish decides
// the Outcome (route, status, error type, start and end) and every other
// layer reads the same one, so the access line, the metric and the span
// agree. The first layer to see a panic recovers and answers it; the
// outermost aborts the connection when the answer cannot be whole.
//
// All of a request's layers run on the goroutine that serves it: a
// middleware that hands the request to another goroutine and answers
// without it (http.TimeoutHandler) belongs outside all of ours. Only the
// route may be handed up from another goroutine.
package request

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"time"
)

// Unmatched is the route of a request that matched no pattern.
const Unmatched = "unmatched"

type stateKey struct{}

// A Layer is one kind of prodready middleware, for Claim.
type Layer uint8

// The layers.
const (
	Logging Layer = 1 << iota
	Metrics
	Tracing
	Deadline // server.Deadline: acts on the response, records nothing
)

// State is the per-request state. It is itself the context that carries it,
// so creating it costs one allocation for the state, the writer and the
// context link together.
type State struct {
	context.Context
	w  captureWriter
	dl deadline // the request deadline, when server.Deadline armed it

	start time.Time // when the first of our layers entered
	url   *url.URL  // the URL then, to find the prefix a nested mux lost

	// route points at the pattern (or route) recorded so far. It is atomic
	// because Routes may run on another goroutine than the layers.
	route  atomic.Pointer[string]
	hooked atomic.Bool // Routes saw the request the mux served

	layers Layer  // the kinds of layer that entered
	fail   string // the error type a layer answered with (Fail)
	done   bool   // out is decided
	out    Outcome

	panicked bool        // the handler panicked (or called runtime.Goexit)
	panic    *panicState // what with; allocated only when it did
	log      *slog.Logger

	// Logging is the logging middleware's slot, opaque to every other
	// package: its per-request data lives here so that it needs no context
	// value of its own. When it has a CorrelationID() string method, the
	// answer to a panic carries that ID.
	Logging any
}

// panicState is what a panic of the handler left, apart from the State so
// that a request that does not panic does not carry it.
type panicState struct {
	value  any    // what it panicked with
	begun  bool   // its response had begun when it did
	stack  string // where, cut to MaxStackBytes
	logged bool   // a layer's line carried the stack
}

// Value returns the state itself for its own key and asks the parent
// context (or the request deadline's, once made: see Arm) for every
// other key. It reads no clock: context.Cause asks Err first, which
// makes the deadline's context once the deadline has passed.
func (s *State) Value(key any) any {
	if key == (stateKey{}) {
		return s
	}
	if t := s.dl.timed.Load(); t != nil {
		return t.Value(key) // its cancelCtx for the context package's key
	}
	return s.Context.Value(key)
}

// From returns the state carried by ctx, or nil.
func From(ctx context.Context) *State {
	s, _ := ctx.Value(stateKey{}).(*State)
	return s
}

// New creates the state for a request whose context is parent and whose
// response goes to w, and reads the clock for its start. Callers put it
// into the request with r.WithContext (directly, or under values of their
// own) and pass Writer() down.
func New(parent context.Context, w http.ResponseWriter) *State {
	s := &State{Context: parent, start: time.Now()}
	s.w.ResponseWriter = w
	s.w.caps = capsOf(w)
	return s
}

// enter returns the request's state, creating it when ctx carries none,
// the writer to pass down (the capturing writer when it created the
// state, w otherwise), r with ctx (copied only when the context changed)
// and whether it created the state. It also records r.Pattern when the mux
// has already matched (a middleware wrapped around a single route).
func enter(ctx context.Context, w http.ResponseWriter, r *http.Request) (*State, http.ResponseWriter, *http.Request, bool) {
	if s := From(ctx); s != nil {
		return s, w, join(s, ctx, r), false
	}
	s := New(ctx, w)
	s.url = r.URL
	s.CaptureRoute(r)
	return s, s.Writer(), r.WithContext(s), true
}

// join returns r with ctx, copied only when the context changed, and
// records its pattern in s.
func join(s *State, ctx context.Context, r *http.Request) *http.Request {
	if !same(ctx, r.Context()) {
		r = r.WithContext(ctx)
	}
	s.CaptureRoute(r)
	return r
}

// same reports whether a and b are the same context. Comparing two values
// of one non-comparable type would panic; such a context counts as changed,
// which costs only a request copy.
func same(a, b context.Context) bool {
	t := reflect.TypeOf(a)
	return t == reflect.TypeOf(b) && t.Comparable() && a == b
}

// Claim records that a layer of kind l handles the request and reports
// whether it is the first of its kind: a middleware applied twice finds
// its kind claimed and only passes the request on, so the request is
// logged, counted and traced once. On a nil state it reports false.
func (s *State) Claim(l Layer) bool {
	if s == nil || s.layers&l != 0 {
		return false
	}
	s.layers |= l
	return true
}

// Claimed reports whether a layer of kind l has claimed the request.
func (s *State) Claimed(l Layer) bool { return s != nil && s.layers&l != 0 }

// Writer returns the capturing writer, with exactly the optional interfaces
// (http.Flusher, http.Hijacker, io.ReaderFrom, http.Pusher) of the writer it
// wraps, and with Flush a FlushError that passes on the underlying writer's
// error to http.ResponseController. Converting it to an interface does not
// allocate.
//
// Like any ResponseWriter it must not be used once the handler has
// returned, nor from two goroutines at once: the status and byte count are
// plain fields, read by the middlewares after next returns.
func (s *State) Writer() http.ResponseWriter { return s.w.wrapped() }

// CaptureRoute records the pattern of r unless a route is known already;
// each layer calls it (through Finish) with the request it passed down
// after next returns, and the first value recorded wins. On a nil state
// (see Join) it does nothing.
func (s *State) CaptureRoute(r *http.Request) {
	if s != nil && r.Pattern != "" && s.route.Load() == nil {
		s.route.CompareAndSwap(nil, &r.Pattern)
	}
}

// SetRoute records *route for routers that do not set r.Pattern. It wins
// over what was recorded before and over a pattern captured later; route
// must not change afterwards.
func (s *State) SetRoute(route *string) { s.route.Store(route) }

// Route returns the route: once decided, the Outcome's; before, the route
// recorded so far, or Unmatched.
func (s *State) Route() string {
	if s.done {
		return s.out.Route
	}
	if p := s.route.Load(); p != nil {
		return Route(*p)
	}
	return Unmatched
}

// Start returns when the first of prodready's layers entered the request.
// Every layer measures from it, so their durations agree.
func (s *State) Start() time.Time { return s.start }

// Status returns the status code sent, 200 if the handler wrote a body
// without one, or 0 if nothing has been sent yet.
func (s *State) Status() int { return s.w.status }

// Bytes returns the number of body bytes written.
func (s *State) Bytes() int64 { return s.w.bytes }

// Hijacked reports whether the handler took over the connection.
func (s *State) Hijacked() bool { return s.w.hijacked }

// Route returns the path template of a ServeMux pattern: "GET
// example.com/items/{id}" becomes "/items/{id}". Methods and hosts never
// contain a slash, so the template starts at the first one. The result
// shares the pattern's memory.
func Route(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return pattern
}

// Methods are the standard methods and, last, "OTHER", which stands for
// every other method: the one set of method values the middlewares use,
// indexed as by MethodIndex.
var Methods = [NumMethods]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodConnect,
	http.MethodOptions, http.MethodTrace, "OTHER",
}

// NumMethods is the number of standard methods plus one for "OTHER".
const NumMethods = 10

// OtherMethod is the index of "OTHER" in Methods.
const OtherMethod = NumMethods - 1

// MethodIndex returns the index in Methods of m, OtherMethod when m is not
// one of the standard methods (they are case-sensitive).
func MethodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodConnect:
		return 6
	case http.MethodOptions:
		return 7
	case http.MethodTrace:
		return 8
	}
	return OtherMethod
}

// Method returns m when it is one of the standard methods and "OTHER"
// otherwise, so a client cannot invent label values.
func Method(m string) string { return Methods[MethodIndex(m)] }
