package request

import "net/http"

// Paths is a set of exact URL paths, for the middlewares' SkipPaths. The
// nil set holds nothing.
type Paths map[string]struct{}

// Add adds paths to p, making it when nil, and returns it.
func (p Paths) Add(paths ...string) Paths {
	if p == nil {
		p = make(Paths, len(paths))
	}
	for _, path := range paths {
		p[path] = struct{}{}
	}
	return p
}

// Has reports whether path is in p.
func (p Paths) Has(path string) bool {
	_, ok := p[path]
	return ok
}

// FirstValue is h.Get for a key already in canonical form, without Get's
// per-call check of the key's spelling.
func FirstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// CloseIdle passes http.Client.CloseIdleConnections on to base, for the
// transports that wrap one: without it the client's call stops at the
// wrapper.
func CloseIdle(base http.RoundTripper) {
	if c, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
