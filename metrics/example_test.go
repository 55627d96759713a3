package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prodready/prodready/metrics"
)

// printSeries prints the lines of a scrape of reg that start with prefix.
func printSeries(reg prometheus.Gatherer, prefix string) {
	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, prefix) {
			fmt.Print(line)
		}
	}
}

func ExampleMiddleware() {
	reg := prometheus.NewRegistry()
	mw, err := metrics.Middleware(reg, metrics.SkipPaths("/livez"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "product "+r.PathValue("id"))
	})
	mux.HandleFunc("GET /livez", func(http.ResponseWriter, *http.Request) {})
	h := mw(mux)

	for _, path := range []string{"/products/1", "/products/2", "/livez", "/wp-login.php"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	printSeries(reg, "http_requests_total")
	// Output:
	// http_requests_total{code="200",error_type="",method="GET",route="/products/{id}"} 2
	// http_requests_total{code="404",error_type="",method="GET",route="unmatched"} 1
}

func ExampleMaxRoutes() {
	reg := prometheus.NewRegistry()
	mw, err := metrics.Middleware(reg, metrics.MaxRoutes(1))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("GET /orders/{id}", func(http.ResponseWriter, *http.Request) {})
	h := mw(mux)

	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/orders", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders/7", nil)) // past MaxRoutes(1)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/orders", nil))  // an unknown method
	printSeries(reg, "http_requests_total")
	// Output:
	// http_requests_total{code="200",error_type="",method="GET",route="other"} 1
	// http_requests_total{code="201",error_type="",method="POST",route="/orders"} 1
	// http_requests_total{code="405",error_type="",method="OTHER",route="unmatched"} 1
}

func ExampleTransport() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer upstream.Close()

	reg := prometheus.NewRegistry()
	rt, err := metrics.Transport(nil, reg)
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: rt}
	resp, err := client.Post(upstream.URL+"/jobs", "text/plain", strings.NewReader("x"))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	fmt.Println(strings.Contains(rec.Body.String(),
		`http_client_requests_total{code="202",host="`+strings.TrimPrefix(upstream.URL, "http://")+`",method="POST"} 1`))
	// Output: true
}

func ExampleNewRegistry() {
	reg := metrics.NewRegistry(metrics.Version("v1.4.0"))
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "build_info", "go_goroutines", "go_sched_latencies_seconds", "process_start_time_seconds":
			fmt.Println(mf.GetName(), mf.GetType())
		}
	}
	// Output:
	// build_info GAUGE
	// go_goroutines GAUGE
	// go_sched_latencies_seconds HISTOGRAM
	// process_start_time_seconds GAUGE
}

// ExampleRevision labels build_info with the commit a container build
// stamped with -ldflags "-X main.commit=$(git rev-parse HEAD)".
func ExampleRevision() {
	commit := "0123abcd" // main.commit
	reg := metrics.NewRegistry(metrics.Version("v1.4.2"), metrics.Revision(commit))
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "build_info" {
			continue
		}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			if l.GetName() == "revision" || l.GetName() == "version" {
				fmt.Println(l.GetName(), l.GetValue())
			}
		}
	}
	// Output:
	// revision 0123abcd
	// version v1.4.2
}

func ExampleHandler() {
	reg := metrics.NewRegistry()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))

	// Prometheus asks for OpenMetrics, the format that carries exemplars.
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.Split(rec.Header().Get("Content-Type"), ";")[0])
	// Output: 200 application/openmetrics-text
}
