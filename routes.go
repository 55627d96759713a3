package prodready

import (
	"net/http"

	"github.com/prodready/prodready/internal/request"
)

// Routes wraps a ServeMux so that prodready's logging, metrics and tracing
// middlewares above it see the route of the pattern it matched, whatever
// sits in between. Without it they read the pattern from the request they
// handed down, which a middleware of yours that calls r.WithContext (auth,
// tenancy) replaces: the mux writes r.Pattern only into the request it was
// given. So the one rule is: if anything between prodready's innermost
// middleware and the mux calls r.WithContext, wrap the mux.
//
//	handler := tracing.Middleware()(logging.Middleware(log)(red(auth(prodready.Routes(mux)))))
//
// For a mux nested in another beneath http.StripPrefix, wrap the inner one:
// the route is the stripped prefix followed by the inner mux's route.
//
//	outer.Handle("/api/", http.StripPrefix("/api", prodready.Routes(inner))) // "/api/v1/items/{id}"
//
// Routes costs nothing when none of prodready's middlewares is above it.
// A route named with metrics.Route, further in, wins.
func Routes(mux http.Handler) http.Handler { return request.Routes(mux) }
