package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prodready/prodready/internal/request"
)

// FuzzLabels feeds what a client or a custom router controls (method, route,
// status) into one middleware: nothing may panic (client_golang panics on label
// values that are not UTF-8), every label value must be valid, and the
// series must stay within the bounds.
func FuzzLabels(f *testing.F) {
	f.Add("GET", "/items/{id}", 200)
	f.Add("PROPFIND", "\xff\xfe", 999)
	f.Add("", "", -1)
	f.Add("get", "other", 100)
	const limit = 4
	reg := prometheus.NewRegistry()
	cfg := defaults()
	MaxRoutes(limit).applyServer(&cfg)
	sm, err := newServerMetrics(reg, cfg)
	if err != nil {
		f.Fatal(err)
	}
	m := &testHTTP{serverMetrics: sm}
	routeFunc := request.RouteFunc(func(r *http.Request) string { return r.Header.Get("Route") })
	f.Fuzz(func(t *testing.T, method, route string, code int) {
		h := m.middleware(routeFunc(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if code >= 100 && code <= 999 { // net/http panics outside this range
				w.WriteHeader(code)
			}
		})))
		req := httptest.NewRequest("GET", "/", nil)
		req.Method = method
		req.Header["Route"] = []string{route}
		h.ServeHTTP(httptest.NewRecorder(), req)

		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		routes := map[string]bool{}
		for _, mf := range mfs {
			for _, s := range mf.GetMetric() {
				for _, l := range s.GetLabel() {
					if !utf8.ValidString(l.GetValue()) {
						t.Fatalf("label %s=%q is not UTF-8", l.GetName(), l.GetValue())
					}
					if l.GetName() == "route" {
						routes[l.GetValue()] = true
					}
				}
			}
		}
		// The routes of their own, and the reserved unmatched, invalid
		// and other.
		if len(routes) > limit+3 {
			t.Fatalf("%d routes, want at most %d: %v", len(routes), limit+3, routes)
		}
		if n := testutil.CollectAndCount(m.inFlight); n > request.NumMethods {
			t.Fatalf("%d in-flight series", n)
		}
	})
}
