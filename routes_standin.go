package prodready

// STAND-IN, TO BE DROPPED AT MERGE: a minimal RouteFunc so that the router
// tests of issue 24 (tests/routers, tests/chi-v5.0.12) compile on the
// routers branch before the lead's [shape] change lands on main. It is not
// the implementation; main's routes.go replaces it.

import (
	"net/http"

	"github.com/prodready/prodready/internal/request"
)

// RouteFunc is a stand-in (see the top of this file).
func RouteFunc(fn func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if st := request.From(r.Context()); st != nil {
					if route := fn(r); route != "" {
						st.SetRoute(&route)
					}
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}
