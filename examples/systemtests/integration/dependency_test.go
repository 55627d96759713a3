//go:build unix

package integration_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestDependencyLoss: with Postgres stopped, orders' readiness goes red
// within one check interval plus its timeout while liveness stays green,
// requests get a clean 503, and when Postgres is back orders is ready again
// without a restart.
func TestDependencyLoss(t *testing.T) {
	s := e2e.StartStack(t, bin, e2e.StackOptions{})
	if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p5","quantity":1}`); r.Status != http.StatusCreated {
		t.Fatalf("POST /orders: %d: %s", r.Status, r.Body)
	}

	s.PG.Stop(t)
	// Scheduling on a busy machine (and the race detector) adds to the
	// contract's bound; a failure here is seconds late, not milliseconds.
	const slack = time.Second
	took := e2e.WaitStatus(t, s.Client, s.OrdersAdmin+"/readyz", http.StatusServiceUnavailable, e2e.CheckInterval+e2e.CheckTimeout+slack)
	t.Logf("readiness went red %v after Postgres stopped (interval %v + timeout %v)", took, e2e.CheckInterval, e2e.CheckTimeout)
	if code, body, err := e2e.Get(s.Client, s.OrdersAdmin+"/livez", nil); err != nil || code != http.StatusOK {
		t.Errorf("livez with Postgres down: %d %s %v", code, body, err)
	}

	tests := []struct {
		name, method, path, body string
	}{
		{"create", http.MethodPost, "/orders", `{"product_id":"p5","quantity":1}`},
		{"read", http.MethodGet, "/orders/1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const id = "db-down-1"
			r := s.Send(t, tt.method, tt.path, http.Header{"X-Correlation-Id": {id}}, tt.body)
			if r.Status != http.StatusServiceUnavailable {
				t.Fatalf("status %d with Postgres down, want 503: %s", r.Status, r.Body)
			}
			var e e2e.ErrorBody
			r.Decode(t, &e)
			if e.Error != "database unavailable" || e.CorrelationID != id {
				t.Errorf("error body %+v", e)
			}
		})
	}

	s.PG.Start(t)
	e2e.WaitStatus(t, s.Client, s.OrdersAdmin+"/readyz", http.StatusOK, 10*time.Second)
	if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p5","quantity":1}`); r.Status != http.StatusCreated {
		t.Fatalf("POST /orders after Postgres came back: %d: %s", r.Status, r.Body)
	}
	if !s.Orders.Running() {
		t.Fatal("orders exited")
	}
}
