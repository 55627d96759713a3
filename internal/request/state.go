// Package request holds what prodready's HTTP middlewares (logging,
// metrics, tracing) share about a request: the route of the matched
// pattern, one response-capturing writer with the status, byte count and
// hijack state, and the normalisation of methods. Logging keeps its own
// data in one opaque slot; nothing else here belongs to one middleware.
//
// Every layer enters a request through Enter (or Join). The first of our
// middlewares to see a request creates the state; the others find it in the context and reuse it, so a request that passes
// through all three is wrapped once. Whichever of ours runs innermost copies
// r.Pattern into the state after the mux has matched, and every outer layer
// reads the route from there even when a user middleware in between called
// r.WithContext and so hid the pattern from them.
package request

import (
	"context"
	"net/http"
	"reflect"
	"strings"
)

// Unmatched is the route of a request that matched no pattern.
const Unmatched = "unmatched"

type stateKey struct{}

// State is the per-request state. It is itself the context that carries it,
// so creating it costs one allocation for the state, the writer and the
// context link together.
type State struct {
	context.Context
	w captureWriter

	// route is written by the innermost middleware after next returns and
	// read by the outer ones after theirs return: one goroutine, in order.
	route string

	// Logging is the logging middleware's slot, opaque to every other
	// package: its per-request data lives here so that it needs no context
	// value of its own.
	Logging any
}

// Value returns the state itself for its own key and asks the parent
// context for every other key.
func (s *State) Value(key any) any {
	if key == (stateKey{}) {
		return s
	}
	return s.Context.Value(key)
}

// From returns the state carried by ctx, or nil.
func From(ctx context.Context) *State {
	s, _ := ctx.Value(stateKey{}).(*State)
	return s
}

// New creates the state for a request whose context is parent and whose
// response goes to w. Callers put it into the request with r.WithContext
// (directly, or under values of their own) and pass Writer() down.
func New(parent context.Context, w http.ResponseWriter) *State {
	s := &State{Context: parent}
	s.w.ResponseWriter = w
	s.w.caps = capsOf(w)
	return s
}

// Enter is how each of prodready's middlewares starts on a request, the
// one entry protocol they share. ctx is the context the layer hands down:
// r.Context(), or one derived from it (tracing's, with the server span).
// Enter returns the request's state, creating it when ctx carries none,
// the writer to pass down (the capturing writer when it created the state,
// w otherwise) and r with ctx, copied only when the context changed. It
// also records r.Pattern when the mux has already matched (a middleware
// wrapped around a single route).
//
// After next returns the layer calls CaptureRoute with the request it
// passed down: if the mux was right beneath it, that request carries the
// pattern, and every outer layer reads the route from the state.
func Enter(ctx context.Context, w http.ResponseWriter, r *http.Request) (*State, http.ResponseWriter, *http.Request) {
	if s := From(ctx); s != nil {
		return s, w, join(s, ctx, r)
	}
	s := New(ctx, w)
	s.CaptureRoute(r)
	return s, s.Writer(), r.WithContext(s)
}

// Join is Enter for a layer that needs no state of its own on this request
// (tracing, for a span it does not record): it joins the state ctx carries
// and, when ctx carries none, returns a nil state and w unchanged instead of
// creating one, so the layer pays nothing for it. CaptureRoute on the nil
// state does nothing; on a joined state it still hands the route to the
// outer layers.
func Join(ctx context.Context, w http.ResponseWriter, r *http.Request) (*State, http.ResponseWriter, *http.Request) {
	s := From(ctx)
	return s, w, join(s, ctx, r)
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

// CaptureRoute records the route of r.Pattern unless a route is known
// already; each layer calls it with the request it passed down after next
// returns, and the first value recorded wins. On a nil state (see Join) it
// does nothing.
func (s *State) CaptureRoute(r *http.Request) {
	if s != nil && r.Pattern != "" && s.route == "" {
		s.route = Route(r.Pattern)
	}
}

// SetRoute records route for routers that do not set r.Pattern. It wins
// over a pattern captured later.
func (s *State) SetRoute(route string) { s.route = route }

// Route returns the recorded route, or Unmatched.
func (s *State) Route() string {
	if s.route == "" {
		return Unmatched
	}
	return s.route
}

// Status returns the status code sent, 200 if the handler wrote a body
// without one, or 0 if nothing has been sent yet.
func (s *State) Status() int { return s.w.status }

// Bytes returns the number of body bytes written.
func (s *State) Bytes() int64 { return s.w.bytes }

// Hijacked reports whether the handler took over the connection.
func (s *State) Hijacked() bool { return s.w.hijacked }

// StatusOr returns Status; when nothing was sent through the writer it
// returns 101 if the handler hijacked the connection (it answered on the
// raw connection, as a WebSocket upgrade does), and code otherwise: 200
// for a handler that returned normally (net/http sends it), 500 after a
// panic. Every middleware reports the same status this way: the access
// line, the metrics and the span agree.
func (s *State) StatusOr(code int) int {
	switch {
	case s.w.status != 0:
		return s.w.status
	case s.w.hijacked:
		return http.StatusSwitchingProtocols
	}
	return code
}

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
