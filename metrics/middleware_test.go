package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/prodready/prodready/internal/request"
	"github.com/prodready/prodready/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testHTTP is both sides, server and client, on one registry, for tests.
type testHTTP struct {
	*serverMetrics
	client         *clientMetrics
	clientRequests *prometheus.CounterVec
	clientDuration *prometheus.HistogramVec
}

// newHTTP builds both sides on a fresh registry. Each option goes to the
// side or sides it configures.
func newHTTP(t testing.TB, opts ...any) (*testHTTP, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	server, client := defaults(), defaults()
	for _, o := range opts {
		if so, ok := o.(Option); ok {
			so.applyServer(&server)
		}
		if co, ok := o.(TransportOption); ok {
			co.applyClient(&client)
		}
	}
	sm, err := newServerMetrics(reg, server)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := newClientMetrics(reg, client)
	if err != nil {
		t.Fatal(err)
	}
	return &testHTTP{sm, cm, cm.requests, cm.duration}, reg
}

// middleware is what Middleware returns.
func (m *testHTTP) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		request.Serve(request.Metrics, r.Context(), w, r, next, m.serverMetrics)
	})
}

// transport is what Transport returns.
func (m *testHTTP) transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{m: m.client, base: base}
}

// serve sends one request through h and returns the recorder.
func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

const requestsHelp = `# HELP http_requests_total Number of HTTP requests served, by method, route template, status code and error type (empty for a success).
# TYPE http_requests_total counter
`

func TestEverySeries(t *testing.T) {
	// In a synctest bubble the clock moves only when the handler sleeps,
	// so durations are exact and the histograms can be compared whole.
	m, _ := newHTTP(t)
	synctest.Test(t, func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(30 * time.Millisecond)
			io.WriteString(w, strings.Repeat("x", 100))
		})
		mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(2 * time.Second)
			w.WriteHeader(http.StatusCreated)
		})
		h := m.middleware(mux)
		serve(h, "GET", "/items/1")
		serve(h, "GET", "/items/2")
		serve(h, "POST", "/items")
	})

	tests := []struct {
		name string
		c    prometheus.Collector
		want string
	}{
		{"requests", m.requests, requestsHelp + `
http_requests_total{code="201",error_type="",method="POST",route="/items"} 1
http_requests_total{code="200",error_type="",method="GET",route="/items/{id}"} 2
`},
		{"duration", m.duration, `
# HELP http_request_duration_seconds Time from receiving an HTTP request to the handler's return, in seconds.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.005"} 0
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.01"} 0
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.025"} 0
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.05"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.075"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.1"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.25"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.5"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="0.75"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="1"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="2.5"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="5"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="7.5"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="10"} 2
http_request_duration_seconds_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="+Inf"} 2
http_request_duration_seconds_sum{code="200",error_type="",method="GET",route="/items/{id}"} 0.06
http_request_duration_seconds_count{code="200",error_type="",method="GET",route="/items/{id}"} 2
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.005"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.01"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.025"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.05"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.075"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.1"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.25"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.5"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="0.75"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="1"} 0
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="2.5"} 1
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="5"} 1
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="7.5"} 1
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="10"} 1
http_request_duration_seconds_bucket{code="201",error_type="",method="POST",route="/items",le="+Inf"} 1
http_request_duration_seconds_sum{code="201",error_type="",method="POST",route="/items"} 2
http_request_duration_seconds_count{code="201",error_type="",method="POST",route="/items"} 1
`},
		{"in flight", m.inFlight, `
# HELP http_requests_in_flight Number of HTTP requests being served, by method.
# TYPE http_requests_in_flight gauge
http_requests_in_flight{method="GET"} 0
http_requests_in_flight{method="POST"} 0
`},
		{"response size", m.size, `
# HELP http_response_size_bytes Size of HTTP response bodies, in bytes.
# TYPE http_response_size_bytes histogram
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="64"} 0
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="256"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="1024"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="4096"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="16384"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="65536"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="262144"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="1.048576e+06"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="4.194304e+06"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="1.6777216e+07"} 2
http_response_size_bytes_bucket{code="200",error_type="",method="GET",route="/items/{id}",le="+Inf"} 2
http_response_size_bytes_sum{code="200",error_type="",method="GET",route="/items/{id}"} 200
http_response_size_bytes_count{code="200",error_type="",method="GET",route="/items/{id}"} 2
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="64"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="256"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="1024"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="4096"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="16384"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="65536"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="262144"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="1.048576e+06"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="4.194304e+06"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="1.6777216e+07"} 1
http_response_size_bytes_bucket{code="201",error_type="",method="POST",route="/items",le="+Inf"} 1
http_response_size_bytes_sum{code="201",error_type="",method="POST",route="/items"} 0
http_response_size_bytes_count{code="201",error_type="",method="POST",route="/items"} 1
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(tt.c, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
			problems, err := testutil.CollectAndLint(tt.c)
			if err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %+v", err, problems)
			}
		})
	}
}

func TestNativeHistogram(t *testing.T) {
	m, reg := newHTTP(t)
	serve(m.middleware(http.NotFoundHandler()), "GET", "/x")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "http_request_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSchema() != 3 || h.GetZeroThreshold() == 0 || len(h.GetPositiveSpan()) == 0 {
			t.Fatalf("no native histogram: schema %d, spans %v", h.GetSchema(), h.GetPositiveSpan())
		}
		if len(h.GetBucket()) != len(durationBuckets()) {
			t.Fatalf("classic buckets %d, want %d", len(h.GetBucket()), len(durationBuckets()))
		}
		return
	}
	t.Fatal("http_request_duration_seconds not gathered")
}

// layer stands in for prodready's logging and tracing middlewares, which
// this package may not import: they share the request state the same way.
func layer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		request.Serve(request.Logging, r.Context(), w, r, next, nil)
	})
}

type userKey struct{}

// userMiddleware hides r.Pattern from every layer outside it.
func userMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, 1)))
	})
}

func TestRouteWhateverTheOrder(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	type mw = func(http.Handler) http.Handler
	tests := []struct {
		name  string
		chain func(metrics mw) http.Handler
	}{
		{"metrics alone", func(m mw) http.Handler { return m(mux) }},
		{"metrics outermost, user between", func(m mw) http.Handler { return m(userMiddleware(layer(userMiddleware(layer(mux))))) }},
		{"metrics in the middle", func(m mw) http.Handler { return layer(userMiddleware(m(userMiddleware(layer(mux))))) }},
		{"metrics innermost", func(m mw) http.Handler { return layer(userMiddleware(layer(userMiddleware(m(mux))))) }},
		{"metrics around one route", func(m mw) http.Handler {
			inner := http.NewServeMux()
			inner.Handle("GET /items/{id}", userMiddleware(layer(m(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))))
			return userMiddleware(inner)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newHTTP(t)
			serve(tt.chain(m.middleware), "GET", "/items/7")
			want := requestsHelp + `http_requests_total{code="200",error_type="",method="GET",route="/items/{id}"} 1` + "\n"
			if err := testutil.CollectAndCompare(m.requests, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRouteTable(t *testing.T) {
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("GET example.com/items/{id}", ok)
	mux.Handle("/files/{path...}", ok)
	mux.Handle("GET /chi-like/", request.Fixed("/chi-like/{id}", ok))
	mux.Handle("GET /teapot", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	mux.Handle("GET /weird", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(999) }))
	tests := []struct {
		name, method, target string
		want                 string // the one series expected
	}{
		{"pattern with host", "GET", "http://example.com/items/1", `{code="200",error_type="",method="GET",route="/items/{id}"}`},
		{"wildcard pattern", "PUT", "/files/a/b/c", `{code="200",error_type="",method="PUT",route="/files/{path...}"}`},
		{"unmatched", "GET", "/nope", `{code="404",error_type="",method="GET",route="unmatched"}`},
		{"method not allowed", "DELETE", "http://example.com/items/1", `{code="405",error_type="",method="DELETE",route="unmatched"}`},
		{"non-standard method", "PROPFIND", "/files/x", `{code="200",error_type="",method="OTHER",route="/files/{path...}"}`},
		{"lower-case method", "get", "/files/x", `{code="200",error_type="",method="OTHER",route="/files/{path...}"}`},
		{"Route wrapper for other routers", "GET", "/chi-like/42", `{code="200",error_type="",method="GET",route="/chi-like/{id}"}`},
		{"status code kept", "GET", "/teapot", `{code="418",error_type="",method="GET",route="/teapot"}`},
		{"code outside 100-599 folded", "GET", "/weird", `{code="other",error_type="",method="GET",route="/weird"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newHTTP(t)
			serve(m.middleware(mux), tt.method, tt.target)
			want := requestsHelp + "http_requests_total" + tt.want + " 1\n"
			if err := testutil.CollectAndCompare(m.requests, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRandomPathsStayBounded(t *testing.T) {
	const limit = 20
	// The worst router: it reports the raw path as the route.
	m, _ := newHTTP(t, MaxRoutes(limit))
	h := m.middleware(request.RouteFunc(func(r *http.Request) string { return r.URL.Path })(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	methods := []string{"GET", "POST", "PROPFIND", "BREW", "get"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 10000 {
		path := fmt.Sprintf("/%x/%d", rng.Uint64(), i)
		serve(h, methods[i%len(methods)], path)
	}
	// Every route can appear with GET, POST and OTHER, plus the overflow route.
	maxSeries := (limit + 1) * 3
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.size} {
		if n := testutil.CollectAndCount(c); n > maxSeries {
			t.Errorf("%d series after 10000 random paths, want at most %d", n, maxSeries)
		}
	}
	if n := testutil.CollectAndCount(m.inFlight); n != 3 {
		t.Errorf("in-flight has %d series, want 3 (GET, POST, OTHER)", n)
	}
	other := testutil.ToFloat64(m.requests.WithLabelValues("GET", "other", "200", ""))
	if other < 1000 {
		t.Errorf("overflow route counted %v GET requests, want most of them", other)
	}
}

func TestPanicIsCounted(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		code    string
		errType string
		reached any // what reaches the caller: nil when the panic was answered
	}{
		{"before writing", func(http.ResponseWriter, *http.Request) { panic("boom") }, "500", "panic", nil},
		{"after writing", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			panic("boom")
		}, "202", "panic", http.ErrAbortHandler},
		{"abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }, "500", "aborted", http.ErrAbortHandler},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newHTTP(t)
			mux := http.NewServeMux()
			mux.Handle("GET /p", tt.handler)
			var got any
			func() {
				defer func() { got = recover() }()
				serve(m.middleware(mux), "GET", "/p")
			}()
			if got != tt.reached {
				t.Fatalf("the caller recovered %v, want %v", got, tt.reached)
			}
			want := requestsHelp + `http_requests_total{code="` + tt.code + `",error_type="` + tt.errType + `",method="GET",route="/p"} 1` + "\n"
			if err := testutil.CollectAndCompare(m.requests, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
			if v := testutil.ToFloat64(m.inFlight.WithLabelValues("GET")); v != 0 {
				t.Errorf("in flight %v after the panic", v)
			}
		})
	}
}

func TestSkipPaths(t *testing.T) {
	m, _ := newHTTP(t, SkipPaths("/livez", "/metrics"))
	h := m.middleware(http.NotFoundHandler())
	for _, p := range []string{"/livez", "/metrics", "/livez", "/other"} {
		serve(h, "GET", p)
	}
	want := requestsHelp + `http_requests_total{code="404",error_type="",method="GET",route="unmatched"} 1` + "\n"
	if err := testutil.CollectAndCompare(m.requests, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestInFlight(t *testing.T) {
	m, _ := newHTTP(t)
	inside := make(chan float64, 1)
	h := m.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		inside <- testutil.ToFloat64(m.inFlight.WithLabelValues("PATCH"))
	}))
	serve(h, "PATCH", "/")
	if v := <-inside; v != 1 {
		t.Fatalf("in flight during the request %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.inFlight.WithLabelValues("PATCH")); v != 0 {
		t.Fatalf("in flight after the request %v, want 0", v)
	}
}

func TestConstructorErrors(t *testing.T) {
	// Each constructor gets the options of its own side; an option of the
	// other side does not compile.
	constructors := map[string]func(prometheus.Registerer, ...any) (any, error){
		"Middleware": func(reg prometheus.Registerer, opts ...any) (any, error) {
			var so []Option
			for _, o := range opts {
				so = append(so, o.(Option))
			}
			return Middleware(reg, so...)
		},
		"Transport": func(reg prometheus.Registerer, opts ...any) (any, error) {
			var co []TransportOption
			for _, o := range opts {
				co = append(co, o.(TransportOption))
			}
			return Transport(nil, reg, co...)
		},
	}
	type tcase struct {
		name string
		pre  prometheus.Collector // registered first
		opts []any
	}
	shared := []tcase{
		{"bad namespace", nil, []any{Namespace("my-app")}},
		{"const label clashes with a label", nil, []any{ConstLabels(prometheus.Labels{"route": "x"})}},
		{"buckets not increasing", nil, []any{Buckets(1, 0.5)}},
		{"no buckets", nil, []any{Buckets()}},
	}
	own := map[string]tcase{
		"Middleware": {"MaxRoutes zero", nil, []any{MaxRoutes(0)}},
		"Transport":  {"MaxHosts negative", nil, []any{MaxHosts(-1)}},
	}
	clashes := map[string]prometheus.Collector{
		"Middleware": prometheus.NewCounter(prometheus.CounterOpts{Name: "http_response_size_bytes", Help: "x"}),
		"Transport":  prometheus.NewCounter(prometheus.CounterOpts{Name: "http_client_request_duration_seconds", Help: "x"}),
	}
	for name, newFn := range constructors {
		cases := append(append([]tcase{}, shared...), own[name], tcase{"clash with an existing collector", clashes[name], nil})
		for _, tt := range cases {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				if tt.pre != nil {
					reg.MustRegister(tt.pre)
				}
				before := testutil.CollectAndCount(reg)
				got, err := newFn(reg, tt.opts...)
				if err == nil {
					t.Fatalf("%s = %v, nil; want an error", name, got)
				}
				if !strings.HasPrefix(err.Error(), "metrics: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				// Nothing half-registered: the same names can still be used.
				if after := testutil.CollectAndCount(reg); after != before {
					t.Errorf("registry has %d series after the failure, %d before", after, before)
				}
				if tt.pre == nil {
					if _, err := newFn(reg); err != nil {
						t.Errorf("%s after a failed one: %v", name, err)
					}
				}
			})
		}
		t.Run(name+"/nil registerer", func(t *testing.T) {
			if _, err := newFn(nil); !errors.Is(err, ErrNilRegisterer) {
				t.Fatalf("err = %v, want ErrNilRegisterer", err)
			}
		})
	}
	t.Run("once each on two registries", func(t *testing.T) {
		newHTTP(t)
		newHTTP(t)
	})
}

// TestTwiceOnOneRegistry checks that two servers (and two clients) can
// share one registry: the second constructor reuses the collectors the
// first registered, and both count into the same series.
func TestTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	var handlers []http.Handler
	var clients []http.RoundTripper
	for range 2 {
		mw, err := Middleware(reg)
		if err != nil {
			t.Fatalf("Middleware: %v", err)
		}
		handlers = append(handlers, mw(http.NotFoundHandler()))
		rt, err := Transport(&roundTripper{status: 200}, reg)
		if err != nil {
			t.Fatalf("Transport: %v", err)
		}
		clients = append(clients, rt)
	}
	for _, h := range handlers {
		serve(h, "GET", "/x")
	}
	for _, rt := range clients {
		req := httptest.NewRequest("GET", "http://catalog/x", nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	want := requestsHelp + `http_requests_total{code="404",error_type="",method="GET",route="unmatched"} 2
` + clientHelp + `http_client_requests_total{code="200",host="catalog",method="GET"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "http_requests_total", "http_client_requests_total"); err != nil {
		t.Error(err)
	}
	// A collector of the same name and a different type is still a clash.
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "http_requests_in_flight", Help: "Number of HTTP requests being served, by method.",
	}))
	if _, err := Middleware(reg2); err == nil {
		t.Error("Middleware reused a collector of another type")
	}
}

func TestOptions(t *testing.T) {
	m, reg := newHTTP(t, Namespace("shop"), ConstLabels(prometheus.Labels{"zone": "a"}),
		Buckets(0.1, 1), NativeHistogramFactor(1))
	serve(m.middleware(http.NotFoundHandler()), "GET", "/")
	want := `
# HELP shop_http_request_duration_seconds Time from receiving an HTTP request to the handler's return, in seconds.
# TYPE shop_http_request_duration_seconds histogram
shop_http_request_duration_seconds_bucket{code="404",error_type="",method="GET",route="unmatched",zone="a",le="0.1"} 1
shop_http_request_duration_seconds_bucket{code="404",error_type="",method="GET",route="unmatched",zone="a",le="1"} 1
shop_http_request_duration_seconds_bucket{code="404",error_type="",method="GET",route="unmatched",zone="a",le="+Inf"} 1
shop_http_request_duration_seconds_count{code="404",error_type="",method="GET",route="unmatched",zone="a"} 1
`
	// The sum is a measured duration; compare it by count and buckets only.
	got, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range got {
		if mf.GetName() == "shop_http_request_duration_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			h.SampleSum = new(float64)
			if h.GetSchema() != 0 || len(h.GetPositiveSpan()) != 0 {
				t.Error("NativeHistogramFactor(1) left the native histogram on")
			}
		}
	}
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return got, nil })
	want += "shop_http_request_duration_seconds_sum{code=\"404\",error_type=\"\",method=\"GET\",route=\"unmatched\",zone=\"a\"} 0\n"
	if err := testutil.GatherAndCompare(g, strings.NewReader(want), "shop_http_request_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// spanContext returns a context carrying a remote span context, sampled or
// not, as the tracing middleware would leave it.
func spanContext(ctx context.Context, sampled bool) context.Context {
	flags := trace.TraceFlags(0)
	if sampled {
		flags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: flags,
	})
	return trace.ContextWithSpanContext(ctx, sc)
}

func TestExemplarsInOpenMetricsScrape(t *testing.T) {
	m, reg := newHTTP(t)
	app := http.NewServeMux()
	app.HandleFunc("GET /sampled", func(http.ResponseWriter, *http.Request) {})
	app.HandleFunc("GET /unsampled", func(http.ResponseWriter, *http.Request) {})
	tracing := func(next http.Handler) http.Handler { // stands in for tracing.Middleware
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(spanContext(r.Context(), r.URL.Path == "/sampled")))
		})
	}
	serve(tracing(m.middleware(app)), "GET", "/sampled")
	serve(tracing(m.middleware(app)), "GET", "/unsampled")

	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	scrape := func(accept string) (string, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Accept", accept)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), string(b)
	}
	ct, body := scrape("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("content type %q, want OpenMetrics", ct)
	}
	// client_golang writes exemplar labels in map order: match either.
	exemplars := []string{
		`# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"}`,
		`# {span_id="00f067aa0ba902b7",trace_id="4bf92f3577b34da6a3ce929d0e0e4736"}`,
	}
	var withExemplar []string
	for line := range strings.Lines(body) {
		if strings.Contains(line, exemplars[0]) || strings.Contains(line, exemplars[1]) {
			withExemplar = append(withExemplar, line)
		}
	}
	if len(withExemplar) != 1 || !strings.Contains(withExemplar[0], `route="/sampled"`) ||
		!strings.HasPrefix(withExemplar[0], "http_request_duration_seconds_bucket") {
		t.Fatalf("want one exemplar on a /sampled duration bucket, got %q", withExemplar)
	}
	if ct, body := scrape("text/plain"); !strings.HasPrefix(ct, "text/plain") || strings.Contains(body, "trace_id") {
		t.Fatalf("classic text scrape: content type %q, exemplar present %v", ct, strings.Contains(body, "trace_id"))
	}

	t.Run("off by option", func(t *testing.T) {
		m, reg := newHTTP(t, Exemplars(false))
		serve(tracing(m.middleware(app)), "GET", "/sampled")
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
		Handler(reg).ServeHTTP(rec, req)
		if strings.Contains(rec.Body.String(), "trace_id") {
			t.Fatal("exemplar present with Exemplars(false)")
		}
	})
}

func TestStreamingAndHijackThroughMiddleware(t *testing.T) {
	m, _ := newHTTP(t)
	mux := http.NewServeMux()
	release := make(chan struct{})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release // the client must have read "one" before this returns
		io.WriteString(w, "data: two\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Errorf("ResponseController.SetReadDeadline: %v", err)
		}
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	})
	done := make(chan struct{}, 2)
	h := m.middleware(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); line != "data: one\n" {
		t.Fatalf("first event %q", line)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest of stream %q", rest)
	}
	<-done

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	cr := bufio.NewReader(conn)
	if status, _ := cr.ReadString('\n'); !strings.HasPrefix(status, "HTTP/1.1 101") {
		t.Fatalf("status line %q", status)
	}
	for line, _ := cr.ReadString('\n'); line != "\r\n" && line != ""; line, _ = cr.ReadString('\n') {
	}
	io.WriteString(conn, "hello\n")
	if echo, _ := cr.ReadString('\n'); echo != "echo hello\n" {
		t.Fatalf("echo %q", echo)
	}
	<-done

	// A hijacked connection counts as 101 when nothing was sent through
	// the ResponseWriter (the 101 went over the raw conn), as the access
	// line and the span report it.
	want := requestsHelp + `
http_requests_total{code="101",error_type="",method="GET",route="/ws"} 1
http_requests_total{code="200",error_type="",method="GET",route="/events"} 1
`
	if err := testutil.CollectAndCompare(m.requests, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if h := histogram(t, m.size, "/events"); h.GetSampleSum() != 22 {
		t.Errorf("response size of the stream %v, want 22", h.GetSampleSum())
	}
}

func TestConcurrentRequests(t *testing.T) {
	const workers, perWorker = 32, 200
	m, reg := newHTTP(t, MaxRoutes(5))
	mux := http.NewServeMux()
	for i := range 8 {
		mux.HandleFunc(fmt.Sprintf("/r%d/{id}", i), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200 + i)
		})
	}
	h := layer(userMiddleware(m.middleware(mux)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				method := []string{"GET", "POST", "BREW"}[(w+i)%3]
				serve(h, method, fmt.Sprintf("/r%d/%d", (w*perWorker+i)%10, i))
			}
		})
	}
	// Scrape while the requests run: collection races with creation.
	for range 20 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	var total float64
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			total += s.GetCounter().GetValue()
			for _, l := range s.GetLabel() {
				if l.GetName() == "route" {
					routes[l.GetValue()] = true
				}
			}
		}
	}
	if total != workers*perWorker {
		t.Errorf("counted %v requests, want %d", total, workers*perWorker)
	}
	// 5 routes of their own, the rest "other", and the two unmatched paths.
	if len(routes) != 7 || !routes["other"] || !routes["unmatched"] {
		t.Errorf("routes %v, want 5 patterns, other and unmatched", routes)
	}
	for _, method := range []string{"GET", "POST", "OTHER"} {
		if v := testutil.ToFloat64(m.inFlight.WithLabelValues(method)); v != 0 {
			t.Errorf("in flight %s = %v after all requests ended", method, v)
		}
	}
}

func TestMiddlewareAllocations(t *testing.T) {
	m, _ := newHTTP(t)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux := http.NewServeMux()
	mux.Handle("GET /users/{id}", ok)
	req := httptest.NewRequest("GET", "/users/1", nil)
	rec := httptest.NewRecorder()
	extra := func(h, floor http.Handler) float64 {
		h.ServeHTTP(rec, req) // create the series
		return testenv.ExtraAllocs(500, func() { h.ServeHTTP(rec, req) }, func() { floor.ServeHTTP(rec, req) })
	}
	// The floor: the mux, plus the request state that the first of
	// prodready's middlewares creates and the others share.
	tests := []struct {
		name     string
		h, floor http.Handler
	}{
		{"alone", m.middleware(mux), layer(mux)},
		{"beneath another layer", layer(m.middleware(mux)), layer(mux)},
		{"among other layers", layer(userMiddleware(layer(m.middleware(mux)))), layer(userMiddleware(layer(mux)))},
	}
	for _, tt := range tests {
		if got := extra(tt.h, tt.floor); got != 0 {
			t.Errorf("metrics %s allocates %v per request beyond the shared state and mux", tt.name, got)
		}
	}
}

// histogram returns the histogram of c whose label values include value.
func histogram(t *testing.T, c prometheus.Collector, value string) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == value {
					return m.GetHistogram()
				}
			}
		}
	}
	t.Fatalf("no series labelled %q", value)
	return nil
}

func TestExemplarsThrottledPerBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, _ := newHTTP(t)
		traced := func(id byte, next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sc := trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: trace.TraceID{15: id}, SpanID: trace.SpanID{7: id}, TraceFlags: trace.FlagsSampled,
				})
				next.ServeHTTP(w, r.WithContext(trace.ContextWithSpanContext(r.Context(), sc)))
			})
		}
		fast := m.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		slow := m.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(3 * time.Second) }))
		// exemplars returns the last byte of the trace ID of each bucket's exemplar, 0 for none.
		exemplars := func() []byte {
			h := histogram(t, m.duration, "unmatched")
			var ids []byte
			for _, b := range h.GetBucket() {
				var id byte
				for _, l := range b.GetExemplar().GetLabel() {
					if l.GetName() == "trace_id" {
						id = l.GetValue()[31] - '0'
					}
				}
				ids = append(ids, id)
			}
			return ids
		}
		steps := []struct {
			h     http.Handler
			trace byte
			sleep time.Duration
			want  [2]byte // exemplar of the first bucket (le=0.005) and of le=5
		}{
			{fast, 1, 0, [2]byte{1, 0}},
			{fast, 2, 0, [2]byte{1, 0}}, // the same second: throttled
			{slow, 3, 0, [2]byte{1, 3}}, // another bucket: its own budget
			{fast, 4, time.Second, [2]byte{4, 3}},
			{fast, 5, 0, [2]byte{4, 3}},
		}
		for i, s := range steps {
			time.Sleep(s.sleep)
			serve(traced(s.trace, s.h), "GET", "/")
			ids := exemplars()
			if got := [2]byte{ids[0], ids[11]}; got != s.want {
				t.Errorf("after step %d: exemplar traces %v, want %v", i, got, s.want)
			}
		}
	})
}
