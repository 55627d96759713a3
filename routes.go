package prodready

import (
	"net/http"

	"github.com/prodready/prodready/internal/request"
)

// Routes wraps an http.ServeMux so that prodready's logging, metrics and
// tracing middlewares above it see the route of the pattern it matched,
// whatever sits in between. Without it they read the pattern from the
// request they handed down, which a middleware of yours that calls
// r.WithContext (auth, tenancy) replaces: the mux writes r.Pattern only
// into the request it was given. Wrapping the mux always is the one line
// to remember:
//
//	handler := tracing.Middleware()(logging.Middleware(log)(red(auth(prodready.Routes(mux)))))
//
// For a mux nested in another beneath http.StripPrefix, wrap the inner one:
// the route is the stripped prefix followed by the inner mux's route.
//
//	outer.Handle("/api/", http.StripPrefix("/api", prodready.Routes(inner))) // "/api/v1/items/{id}"
//
// Routes costs nothing when none of prodready's middlewares is above it.
// For routers that do not name their routes in r.Pattern (chi, gorilla/mux)
// use RouteFunc.
func Routes(mux http.Handler) http.Handler { return request.Routes(mux) }

// RouteFunc returns a middleware that goes inside a router, with the
// router's own Use, and hands the route the router matched to prodready's
// middlewares above it: fn is asked once the router has served the request
// (or the handler panicked), with the request the router handed on. One
// line per router:
//
//	// chi, every v5 release:
//	r.Use(prodready.RouteFunc(func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }))
//	// gorilla/mux:
//	r.Use(prodready.RouteFunc(func(r *http.Request) string { t, _ := mux.CurrentRoute(r).GetPathTemplate(); return t }))
//
// A request no route matched (404, 405) is recorded as "unmatched": fn
// returns "" for it, or, for a subrouter mounted under a prefix that
// matched nothing beneath it, a pattern ending in "/*" with a 404 or 405,
// which RouteFunc takes for the router's own answer. fn returning a value
// longer than 256 bytes or with bytes outside printable ASCII records
// "invalid"; a panic in fn records nothing: the request is still answered
// and no label or log line ever holds an unbounded value.
//
// It costs nothing when none of prodready's middlewares is above it.
func RouteFunc(fn func(*http.Request) string) func(http.Handler) http.Handler {
	return request.RouteFunc(fn)
}

// Route names the requests h serves with the route of pattern, for a
// handler that no router names (a catch-all, a handler mounted by hand).
// A ServeMux-style pattern loses its method and host ("GET /items/{id}"
// is recorded as "/items/{id}"). It wins over the route a router recorded.
func Route(pattern string, h http.Handler) http.Handler { return request.Fixed(pattern, h) }
