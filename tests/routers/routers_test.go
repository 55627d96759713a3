package routers

import (
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"

	"github.com/prodready/prodready"
	"github.com/prodready/prodready/internal/routertest"
)

// newChi is chi as its documentation says, with a user middleware of its
// own after the route line and a router mounted at /api/v1.
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

// newGorilla is gorilla/mux as its documentation says, with a user
// middleware of its own after the route line and a subrouter at /api/v1.
func newGorilla(h routertest.Handlers) http.Handler {
	r := mux.NewRouter()
	// Documented:
	r.Use(prodready.RouteFunc(func(r *http.Request) string { t, _ := mux.CurrentRoute(r).GetPathTemplate(); return t }))
	return gorillaRoutes(r, h)
}

func gorillaWithRouteFunc(fn func(*http.Request) string, h routertest.Handlers) http.Handler {
	r := mux.NewRouter()
	r.Use(prodready.RouteFunc(fn))
	return gorillaRoutes(r, h)
}

func gorillaRoutes(r *mux.Router, h routertest.Handlers) http.Handler {
	r.Use(routertest.WithValue)
	r.HandleFunc("/items/{id}", h.Item).Methods(http.MethodGet)
	r.HandleFunc("/missing/{id}", h.Missing).Methods(http.MethodGet)
	r.HandleFunc("/panic/{id}", h.Panic).Methods(http.MethodGet)
	r.HandleFunc("/late/{id}", h.PanicLate).Methods(http.MethodGet)
	r.HandleFunc("/abort/{id}", h.Abort).Methods(http.MethodGet)
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Use(routertest.WithValue)
	// Things last: gorilla/mux answers a wrong method on any subrouter
	// route but the last with 404, not 405 (gorilla/mux#751), and the 405
	// case wants the router's own 405.
	api.HandleFunc("/boom/{id}", h.Panic).Methods(http.MethodGet)
	api.HandleFunc("/things/{id}", h.Thing).Methods(http.MethodGet)
	return r
}

// newServeMux is http.ServeMux as prodready.Routes' documentation says,
// with a mux nested beneath http.StripPrefix at /api/v1 and a user
// middleware in front of it.
func newServeMux(h routertest.Handlers) http.Handler {
	mux := serveMuxRoutes(h)
	// Documented:
	handler := prodready.Routes(mux)
	return handler
}

// serveMuxWithRouteFunc names the routes with a function instead, around
// a ServeMux: RouteFunc serves any router.
func serveMuxWithRouteFunc(fn func(*http.Request) string, h routertest.Handlers) http.Handler {
	return prodready.RouteFunc(fn)(serveMuxRoutes(h))
}

func serveMuxRoutes(h routertest.Handlers) *http.ServeMux {
	api := http.NewServeMux()
	api.HandleFunc("GET /things/{id}", h.Thing)
	api.HandleFunc("GET /boom/{id}", h.Panic)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", h.Item)
	mux.HandleFunc("GET /missing/{id}", h.Missing)
	mux.HandleFunc("GET /panic/{id}", h.Panic)
	mux.HandleFunc("GET /late/{id}", h.PanicLate)
	mux.HandleFunc("GET /abort/{id}", h.Abort)
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", routertest.WithValue(prodready.Routes(api))))
	return mux
}

func TestChi(t *testing.T) {
	routertest.Run(t, routertest.Router{New: newChi, WithRouteFunc: chiWithRouteFunc})
}

func TestGorilla(t *testing.T) {
	routertest.Run(t, routertest.Router{New: newGorilla, WithRouteFunc: gorillaWithRouteFunc})
}

func TestServeMux(t *testing.T) {
	routertest.Run(t, routertest.Router{New: newServeMux, WithRouteFunc: serveMuxWithRouteFunc})
}

// TestDocumented: the three router lines above are the README's and go
// doc's, as written.
func TestDocumented(t *testing.T) {
	routertest.Documented(t, "../..", "routers_test.go")
}
