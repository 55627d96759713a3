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
	h.next.ServeHTTP(w, r)
	if r.Pattern == "" || s.route.Load() != nil {
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
