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
