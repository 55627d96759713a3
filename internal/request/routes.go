package request

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Routes returns a handler that serves mux and hands the pattern mux
// matched to prodready's middlewares above it, through the state in the
// request context: a ServeMux writes r.Pattern only into the request it was
// given, which a middleware in between that calls r.WithContext keeps from
// them.
//
// Beneath http.StripPrefix (a mux nested in another), the route is the
// stripped prefix followed by mux's route: "/api" and "/v1/items/{id}"
// make "/api/v1/items/{id}". A route recorded further in wins, so the
// innermost Routes names the request.
func Routes(mux http.Handler) http.Handler { return &routes{next: mux} }

type routes struct {
	next   http.Handler
	joined sync.Map // routeKey -> *string
	n      atomic.Int64
}

type routeKey struct{ prefix, route string }

// noRoute is recorded for a request a mux wrapped in Routes matched
// nothing for: Finish reads it as Unmatched.
var noRoute = ""

// maxJoined bounds the prefixed routes cached per Routes: prefixes and
// patterns are the program's, so a few dozen is usual.
const maxJoined = 1024

func (h *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := From(r.Context())
	if s == nil {
		h.next.ServeHTTP(w, r)
		return
	}
	s.hooked.Store(true)
	defer h.capture(s, r) // also when the handler panics
	h.next.ServeHTTP(w, r)
}

// capture records the pattern the mux wrote into r. A mux that matched
// nothing (its 404 or 405) decides that the request is unmatched: an outer
// mux that handed it the subtree ("/api/v1/") must not name it.
func (h *routes) capture(s *State, r *http.Request) {
	if s.route.Load() != nil {
		return
	}
	if r.Pattern == "" {
		s.route.CompareAndSwap(nil, &noRoute)
		return
	}
	prefix := ""
	if s.url != nil && r.URL != s.url {
		prefix = strippedPrefix(s.url.Path, r.URL.Path)
	}
	if prefix == "" {
		s.route.CompareAndSwap(nil, &r.Pattern)
		return
	}
	s.route.CompareAndSwap(nil, h.join(prefix, Route(r.Pattern)))
}

// strippedPrefix returns what was cut from the front of the original path
// to give path, as http.StripPrefix does, or "".
func strippedPrefix(original, path string) string {
	if len(path) >= len(original) || !strings.HasSuffix(original, path) {
		return ""
	}
	return original[:len(original)-len(path)]
}

func (h *routes) join(prefix, route string) *string {
	k := routeKey{prefix, route}
	if v, ok := h.joined.Load(k); ok {
		return v.(*string)
	}
	joined := prefix + route
	if h.n.Load() < maxJoined {
		if v, loaded := h.joined.LoadOrStore(k, &joined); loaded {
			return v.(*string)
		}
		h.n.Add(1)
	}
	return &joined
}

// RouteFunc returns a middleware for the inside of a router that names
// its routes its own way (chi, gorilla/mux): once the router has served
// the request, or the handler panicked, it asks fn for the route, with the
// request the router handed it, and hands the answer up to prodready's
// middlewares. fn returning "" leaves the request unmatched. A panic in fn
// is recovered and leaves the request unmatched; a route longer than
// MaxRouteBytes, or with bytes outside printable ASCII, is recorded as
// Invalid, so a route function cannot put unbounded or raw values into
// labels and log lines.
//
// A 404 or 405 whose route ends in "/*" is a router's own answer from a
// mounted subrouter that matched nothing beneath its prefix (chi names it
// by the mount pattern, "/api/*"): it is recorded as unmatched.
func RouteFunc(fn func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := From(r.Context())
			if s == nil {
				next.ServeHTTP(w, r)
				return
			}
			s.hooked.Store(true)
			defer s.routeFrom(fn, r) // also when the handler panics
			next.ServeHTTP(w, r)
		})
	}
}

// MaxRouteBytes bounds a route a route function returns.
const MaxRouteBytes = 256

// Invalid is the route of a request whose route function returned a value
// too long or with bytes outside printable ASCII.
const Invalid = "invalid"

// routeFrom records the route fn gives for r unless one is known.
func (s *State) routeFrom(fn func(*http.Request) string, r *http.Request) {
	if s.route.Load() != nil {
		return
	}
	route := callRouteFunc(fn, r)
	if route == "" {
		return
	}
	if st := s.w.status; (st == http.StatusNotFound || st == http.StatusMethodNotAllowed) && strings.HasSuffix(route, "/*") {
		return
	}
	if !validRoute(route) {
		route = Invalid
	}
	s.route.CompareAndSwap(nil, &route)
}

// callRouteFunc calls fn, turning a panic into "".
func callRouteFunc(fn func(*http.Request) string, r *http.Request) (route string) {
	defer func() {
		if recover() != nil {
			route = ""
		}
	}()
	return fn(r)
}

func validRoute(route string) bool {
	if len(route) > MaxRouteBytes {
		return false
	}
	for i := 0; i < len(route); i++ {
		if c := route[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// Fixed returns a handler that names the requests h serves with the route
// of pattern, for a single handler outside any router's naming. It wins
// over a route captured from r.Pattern.
func Fixed(pattern string, h http.Handler) http.Handler {
	route := Route(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := From(r.Context()); s != nil {
			s.hooked.Store(true)
			s.SetRoute(&route)
		}
		h.ServeHTTP(w, r)
	})
}
