//go:build kubernetes

package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// collector is an OTLP/HTTP trace receiver on the node's bridge address,
// behind the Service the manifests name (otel-collector.observability:4318):
// it accepts every export and counts them, or, hung, takes the requests
// and never answers, as a collector that is down behind a load balancer,
// overloaded or blackholed does to its clients.
type collector struct {
	port    int
	exports atomic.Int64
	hung    atomic.Bool
	closing chan struct{}
}

func startCollector(t *testing.T, ip string) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{port: ln.Addr().(*net.TCPAddr).Port, closing: make(chan struct{})}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.hung.Load() {
				select {
				case <-r.Context().Done(): // the exporter gave up
				case <-c.closing:
				}
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 16<<20))
			if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
				http.NotFound(w, r)
				return
			}
			c.exports.Add(1)
			// An empty ExportTraceServiceResponse: everything accepted.
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		close(c.closing)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A hung request's body is drained by net/http after the handler
		// returns; from a pod that was deleted mid-export no byte and no
		// FIN ever comes, so Shutdown waits out ctx on that connection.
		// Close ends what Shutdown could not, or goleak finds it.
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("collector: %v", err)
		}
	})
	return c
}

// manifests are the Service the examples export to and an EndpointSlice
// pointing it at this process.
func (c *collector) manifests(ip string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: otel-collector, namespace: observability}
spec:
  ports: [{name: otlp-http, port: 4318, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: otel-collector-test
  namespace: observability
  labels: {kubernetes.io/service-name: otel-collector}
addressType: IPv4
ports: [{name: otlp-http, port: %s, protocol: TCP}]
endpoints: [{addresses: ["%s"], conditions: {ready: true}}]
`, strconv.Itoa(c.port), ip)
}
