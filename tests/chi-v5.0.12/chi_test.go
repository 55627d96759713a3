package chiv5012

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/prodready/prodready"
	"github.com/prodready/prodready/internal/routertest"
)

// newChi is chi as its documentation says, with a user middleware of its
// own after the route line and a router mounted at /api/v1: the same code
// as tests/routers' on purpose, compiled here against chi v5.0.12.
func newChi(h routertest.Handlers) http.Handler {
	r := chi.NewRouter()
	// Documented:
	r.Use(prodready.RouteFunc(func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }))
	return chiRoutes(r, h)
}

func chiWithRouteFunc(fn func(*http.Request) string, h routertest.Handlers) http.Handler {
	r := chi.NewRouter()
	r.Use(prodready.RouteFunc(fn))
	return chiRoutes(r, h)
}

func chiRoutes(r chi.Router, h routertest.Handlers) http.Handler {
	r.Use(routertest.WithValue)
	r.Get("/items/{id}", h.Item)
	r.Get("/missing/{id}", h.Missing)
	r.Get("/panic/{id}", h.Panic)
	r.Get("/late/{id}", h.PanicLate)
	r.Get("/abort/{id}", h.Abort)
	api := chi.NewRouter()
	api.Use(routertest.WithValue)
	api.Get("/things/{id}", h.Thing)
	api.Get("/boom/{id}", h.Panic)
	r.Mount("/api/v1", api)
	return r
}

// TestChiSetsNoPattern guards the point of this module: the chi it builds
// leaves r.Pattern empty, as v5.0.x does (v5.3.0 and later set it), so the
// route reaches prodready through the documented function alone and not
// through a pattern a newer chi slipped in by a tidy or a workspace.
func TestChiSetsNoPattern(t *testing.T) {
	r := chi.NewRouter()
	pattern := "unset"
	r.Get("/items/{id}", func(_ http.ResponseWriter, r *http.Request) { pattern = r.Pattern })
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/7", nil))
	if pattern != "" {
		t.Fatalf("chi set r.Pattern to %q: this module must build chi v5.0.12, which sets none", pattern)
	}
}

func TestChi(t *testing.T) {
	routertest.Run(t, routertest.Router{New: newChi, WithRouteFunc: chiWithRouteFunc})
}

// TestDocumented: the chi line above is the README's and go doc's.
func TestDocumented(t *testing.T) {
	routertest.Documented(t, "../..", "chi_test.go")
}
