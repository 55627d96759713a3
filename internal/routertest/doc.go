// Package routertest runs prodready's logging, metrics and tracing
// middlewares in front of a real router, through a real net/http server,
// and checks that the access line, the metric sample and the exported span
// of each request agree on its route, status and error type.
//
// It imports no router: the modules under tests/ (one per set of router
// versions, so that no router enters the library's go.mod) build each
// router with the handlers of Handlers, named with the one line the
// documentation gives for it, and call Run. The stack is the README's
// order, tracing outermost, then logging, then metrics, with a user
// middleware between ours and the router that calls r.WithContext and
// refuses requests without credentials.
//
// The cases are what issue 24 asks of every router: a 2xx route, a 4xx
// written by the handler (it keeps its route), a panic before and after
// the response began, http.ErrAbortHandler, a route of a mounted
// subrouter, and, all "unmatched", a path no route matches, a method no
// route allows (both also inside the mounted group) and a request refused
// above the router. RouteFuncCases adds route functions that panic or
// return a long or odd string.
//
// Documented checks that the router lines the tests use are the ones in
// README.md and the root package's doc comments, so the docs cannot drift
// from what is tested.
package routertest
