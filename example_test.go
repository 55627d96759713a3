package prodready_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prodready/prodready"
	"github.com/prodready/prodready/metrics"
)

type tenantKey struct{}

// tenant stands for any middleware of yours that calls r.WithContext.
func tenant(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tenantKey{}, "acme")))
	})
}

// ExampleRoutes: with a middleware between prodready's and the mux that
// replaces the request, the mux's pattern reaches prodready's middlewares
// only through Routes.
func ExampleRoutes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(http.ResponseWriter, *http.Request) {})

	reg := prometheus.NewRegistry()
	red, err := metrics.Middleware(reg)
	if err != nil {
		panic(err)
	}
	handler := red(tenant(prodready.Routes(mux)))
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders/7", nil))

	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "http_requests_total{") {
			fmt.Print(line)
		}
	}
	// Output:
	// http_requests_total{code="200",error_type="",method="GET",route="/orders/{id}"} 1
}

// ExampleRoutes_nested names the routes of a mux mounted in another with
// http.StripPrefix after the whole path.
func ExampleRoutes_nested() {
	inner := http.NewServeMux()
	inner.HandleFunc("GET /v1/items/{id}", func(http.ResponseWriter, *http.Request) {})
	outer := http.NewServeMux()
	outer.Handle("/api/", http.StripPrefix("/api", prodready.Routes(inner)))

	reg := prometheus.NewRegistry()
	red, err := metrics.Middleware(reg)
	if err != nil {
		panic(err)
	}
	red(outer).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/items/7", nil))

	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "http_requests_total{") {
			fmt.Print(line)
		}
	}
	// Output:
	// http_requests_total{code="200",error_type="",method="GET",route="/api/v1/items/{id}"} 1
}

// printRequests prints the http_requests_total series of reg.
func printRequests(reg *prometheus.Registry) {
	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "http_requests_total{") {
			fmt.Print(line)
		}
	}
}

type routeKey struct{}

// ExampleRouteFunc names the routes of a router that keeps its route
// template in a context value of its own, as chi does (with chi the
// function is chi.RouteContext(r.Context()).RoutePattern(); with
// gorilla/mux, mux.CurrentRoute(r).GetPathTemplate()). The middleware goes
// inside the router, with the router's own Use; here the "router" is a
// function that records its match in the context the way chi does.
func ExampleRouteFunc() {
	route := prodready.RouteFunc(func(r *http.Request) string { return *r.Context().Value(routeKey{}).(*string) })
	endpoint := route(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/users/") {
			*r.Context().Value(routeKey{}).(*string) = "/users/{id}" // the router's match
			return
		}
		http.NotFound(w, r)
	}))
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		endpoint.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, new(string))))
	})

	reg := prometheus.NewRegistry()
	red, err := metrics.Middleware(reg)
	if err != nil {
		panic(err)
	}
	handler := red(tenant(router))
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/1", nil))
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/2", nil))
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nowhere", nil))
	printRequests(reg)
	// Output:
	// http_requests_total{code="200",error_type="",method="GET",route="/users/{id}"} 2
	// http_requests_total{code="404",error_type="",method="GET",route="unmatched"} 1
}

// ExampleRoute names a handler that no router names.
func ExampleRoute() {
	reg := prometheus.NewRegistry()
	red, err := metrics.Middleware(reg)
	if err != nil {
		panic(err)
	}
	catchAll := prodready.Route("/files/{path...}", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	red(catchAll).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/files/a/b", nil))
	printRequests(reg)
	// Output:
	// http_requests_total{code="200",error_type="",method="GET",route="/files/{path...}"} 1
}
