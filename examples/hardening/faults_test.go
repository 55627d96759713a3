//go:build linux

package hardening_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/internal/e2e"
)

// TestPostgresKilled: Postgres crashes (SIGQUIT: no shutdown, crash
// recovery at the next start) while 4 clients send orders. Every answer
// is either the order or a clean JSON 503/500 naming the request's
// correlation ID; orders stays up, and serves again once Postgres is back.
func TestPostgresKilled(t *testing.T) {
	const clients = 4
	s := startOrders(t, bin.checked)
	order(t, s)

	var (
		created, refused atomic.Int64
		mu               sync.Mutex
		bad              []string
	)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				id := fmt.Sprintf("pg-killed-%d-%d", c, n)
				code, body, err := e2e.Do(s.Client, http.MethodPost, s.OrdersURL+"/orders",
					http.Header{"X-Correlation-Id": {id}}, []byte(`{"product_id":"p1","quantity":1}`))
				var e e2e.ErrorBody
				switch {
				case err == nil && code == http.StatusCreated:
					created.Add(1)
					continue
				case err != nil:
				case code != http.StatusServiceUnavailable && code != http.StatusInternalServerError:
				case json.Unmarshal(body, &e) != nil || e.Error == "" || e.CorrelationID != id:
				default:
					refused.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s: %d %s %v", id, code, body, err))
				mu.Unlock()
			}
		})
	}
	waitCount(t, &created, 20, 10*time.Second)

	s.PG.Kill(t)
	waitCount(t, &refused, 20, 10*time.Second)
	e2e.WaitStatus(t, s.Client, s.OrdersAdmin+"/readyz", http.StatusServiceUnavailable, 5*time.Second)
	if code, _, err := e2e.Get(s.Client, s.OrdersAdmin+"/livez", nil); err != nil || code != http.StatusOK {
		t.Errorf("livez with Postgres down: %d %v", code, err)
	}

	s.PG.Start(t)
	e2e.WaitStatus(t, s.Client, s.OrdersAdmin+"/readyz", http.StatusOK, 15*time.Second)
	after := created.Load()
	waitCount(t, &created, after+20, 10*time.Second)
	stop()
	wg.Wait()

	t.Logf("%d orders created, %d refused cleanly while Postgres was down", created.Load(), refused.Load())
	for i, b := range bad {
		if i == 10 {
			t.Errorf("… and %d more", len(bad)-i)
			break
		}
		t.Errorf("not an order nor a clean refusal: %s", b)
	}
	if !s.Orders.Running() {
		t.Fatal("orders exited")
	}
	// What orders logged at error level is what should be there: the
	// database errors of the refused requests and their access lines.
	for _, l := range errorLines(s.Orders) {
		if l["msg"] != "database" && (l["msg"] != "request" || l["status"] == nil || l["status"].(float64) < 500) {
			t.Errorf("unexpected error line: %v", l)
		}
	}
}

// waitCount waits until n reaches want.
func waitCount(t *testing.T, n *atomic.Int64, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("count %d within %v, want %d", n.Load(), within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
