//go:build unix

package integration_test

import (
	"net/http"
	"testing"
	"time"
)

// TestDependencyLoss: with Postgres stopped, orders' readiness goes red
// within one check interval plus its timeout while liveness stays green,
// requests get a clean 503, and when Postgres is back orders is ready again
// without a restart.
func TestDependencyLoss(t *testing.T) {
	s := startStack(t, stackOptions{})
	if r := s.send(t, http.MethodPost, "/orders", nil, `{"product_id":"p5","quantity":1}`); r.status != http.StatusCreated {
		t.Fatalf("POST /orders: %d: %s", r.status, r.body)
	}

	s.pg.Stop(t)
	// Scheduling on a busy machine (and the race detector) adds to the
	// contract's bound; a failure here is seconds late, not milliseconds.
	const slack = time.Second
	took := waitStatus(t, s.client, s.ordersAdmin+"/readyz", http.StatusServiceUnavailable, checkInterval+checkTimeout+slack)
	t.Logf("readiness went red %v after Postgres stopped (interval %v + timeout %v)", took, checkInterval, checkTimeout)
	if code, body, err := get(s.client, s.ordersAdmin+"/livez", nil); err != nil || code != http.StatusOK {
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
			r := s.send(t, tt.method, tt.path, http.Header{"X-Correlation-Id": {id}}, tt.body)
			if r.status != http.StatusServiceUnavailable {
				t.Fatalf("status %d with Postgres down, want 503: %s", r.status, r.body)
			}
			var e errorBody
			r.decode(t, &e)
			if e.Error != "database unavailable" || e.CorrelationID != id {
				t.Errorf("error body %+v", e)
			}
		})
	}

	s.pg.Start(t)
	waitStatus(t, s.client, s.ordersAdmin+"/readyz", http.StatusOK, 10*time.Second)
	if r := s.send(t, http.MethodPost, "/orders", nil, `{"product_id":"p5","quantity":1}`); r.status != http.StatusCreated {
		t.Fatalf("POST /orders after Postgres came back: %d: %s", r.status, r.body)
	}
	if !s.orders.running() {
		t.Fatal("orders exited")
	}
}
