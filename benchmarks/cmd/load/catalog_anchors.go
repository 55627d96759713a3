//go:build ignore

// This file is not built with the load tool: the tool compiles it in
// place of examples/catalog/main.go (go build -overlay), so the anchors
// twin serves the catalog's own routes, from the same catalog.go, wired
// the way a team would without prodready, with the anchors of
// benchmarks/stack_test.go (package anchors): otelhttp.NewHandler around
// chi's RequestID with a usual zap access-log middleware, around
// promhttp's four-handler instrumentation chain. The settings are the shipped catalog's: the
// tracing SDK as tracing.Setup builds it when nothing is configured (no
// exporter, so root spans are not sampled; W3C trace context and
// baggage), one JSON access line per request on stdout, the Go and
// process collectors on an admin port's /metrics, the same server
// timeouts.

package main

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/prodready/prodready/benchmarks/anchors"
)

func main() {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	logger := anchors.ZapProduction(os.Stdout)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	traffic := anchors.Stack(newCatalog(products).routes(), logger, reg, "catalog")

	admin := http.NewServeMux()
	admin.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	admin.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	go func() { log.Fatal(newServer(os.Getenv("ADMIN_ADDR"), admin).ListenAndServe()) }()
	log.Fatal(newServer(os.Getenv("HTTP_ADDR"), traffic).ListenAndServe())
}

func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}
