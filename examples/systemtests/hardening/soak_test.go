//go:build linux

package hardening_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestSoak: mixed traffic on both services for soakFor, with the password
// rotated every 10s and an outage every 15s, in turn catalog frozen with
// SIGSTOP (orders' catalog check only warns: readiness stays green, POST
// /orders fails fast) and Postgres stopped (readiness red). Afterwards, at
// rest, both services' goroutines and heap (after a forced GC) come back
// to the band they started in: nothing leaks per request, per rotation or
// per outage.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak takes a minute")
	}
	const (
		soakFor = 45 * time.Second
		warmUp  = 5 * time.Second
		clients = 6
		step    = 5 * time.Second
		settle  = 20 * time.Second
		// The bands: goroutines may differ by the connections in the
		// pools (orders keeps up to 32 idle ones to catalog, two
		// goroutines each, one on catalog's side); the heap by what a GC
		// cycle leaves of a burst.
		goroutineBand = 24
		heapBand      = 4 << 20
	)
	s := startOrders(t, bin.plain, "PPROF=true")
	services := []struct{ name, admin string }{{"orders", s.OrdersAdmin}, {"catalog", s.CatalogAdmin}}

	var stats traffic
	run := func(ctx context.Context, d time.Duration) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() { stats.client(ctx, s, c) })
		}
		wg.Wait()
	}
	run(context.Background(), warmUp)
	s.Client.CloseIdleConnections()
	time.Sleep(time.Second)
	before := map[string]runtimeStats{}
	for _, svc := range services {
		before[svc.name] = settled(t, s, svc.admin)
	}
	t.Logf("at rest after warm-up: %+v", before)

	// Readiness, watched all along: red while Postgres is stopped.
	var sawRed, sawGreenAfterRed atomic.Bool
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for watchCtx.Err() == nil {
			code, _, err := e2e.Get(s.Client, s.OrdersAdmin+"/readyz", nil)
			switch {
			case err == nil && code == http.StatusServiceUnavailable:
				sawRed.Store(true)
			case err == nil && code == http.StatusOK && sawRed.Load():
				sawGreenAfterRed.Store(true)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	// The traffic runs in the background; the chaos runs here, on the
	// test's goroutine, every step seconds: a rotation every other step,
	// a flap every third.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	load.Go(func() { run(loadCtx, soakFor) })
	t.Cleanup(func() { stopLoad(); load.Wait() }) // when the chaos fails the test
	began := time.Now()
	passwords, flaps := 0, 0
	for i := 1; time.Duration(i)*step < soakFor; i++ {
		time.Sleep(time.Until(began.Add(time.Duration(i) * step)))
		if i%2 == 0 {
			passwords++
			rotate(t, s, fmt.Sprintf("soak-password-%d", passwords))
		}
		if i%3 == 0 {
			flaps++
			if flaps%2 == 1 {
				// A catalog that hangs: orders' lookups time out, its
				// catalog check warns (non-critical: readiness stays 200).
				s.Catalog.Signal(syscall.SIGSTOP)
				time.Sleep(2 * e2e.CheckTimeout)
				s.Catalog.Signal(syscall.SIGCONT)
			} else {
				s.PG.Stop(t)
				time.Sleep(time.Second)
				s.PG.Start(t)
			}
		}
	}
	load.Wait()
	e2e.WaitStatus(t, s.Client, s.OrdersAdmin+"/readyz", http.StatusOK, 15*time.Second)
	stopWatch()
	watcher.Wait()
	s.Client.CloseIdleConnections()

	t.Logf("soak: %v of traffic, %d requests (%d 2xx, %d 4xx, %d 5xx, %d transport errors), %d rotations, %d flaps",
		soakFor, stats.total.Load(), stats.ok.Load(), stats.client4xx.Load(), stats.server5xx.Load(), stats.errs.Load(), passwords, flaps)
	if !sawRed.Load() || !sawGreenAfterRed.Load() {
		t.Errorf("readiness did not flap: red %v, green again %v", sawRed.Load(), sawGreenAfterRed.Load())
	}
	if stats.ok.Load() < 1000 {
		t.Errorf("only %d successful requests in %v", stats.ok.Load(), soakFor)
	}

	for _, svc := range services {
		b := before[svc.name]
		var a runtimeStats
		deadline := time.Now().Add(settle)
		for {
			a = settled(t, s, svc.admin)
			if a.goroutines <= b.goroutines+goroutineBand && a.heap <= b.heap+heapBand {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s did not come back to its band within %v: goroutines %d → %d (band +%d), heap in use %s → %s (band +%s)",
					svc.name, settle, b.goroutines, a.goroutines, goroutineBand, mib(b.heap), mib(a.heap), mib(heapBand))
				break
			}
			time.Sleep(time.Second)
		}
		t.Logf("%s: goroutines %d → %d, heap in use %s → %s", svc.name, b.goroutines, a.goroutines, mib(b.heap), mib(a.heap))
	}
	for _, p := range []*e2e.Proc{s.Orders, s.Catalog} {
		if !p.Running() {
			t.Errorf("%s exited", p.Name())
		}
	}
}

// traffic counts the answers of the soak's clients.
type traffic struct {
	total, ok, client4xx, server5xx, errs atomic.Int64
}

// client sends a mix until ctx ends: orders created and read back,
// products listed and looked up, slow /work, and bad requests.
func (tr *traffic) client(ctx context.Context, s *e2e.Stack, c int) {
	var last string
	for n := 0; ctx.Err() == nil; n++ {
		var code int
		var err error
		switch n % 8 {
		case 0, 1:
			var body []byte
			code, body, err = e2e.Do(s.Client, http.MethodPost, s.OrdersURL+"/orders", nil, []byte(`{"product_id":"p3","quantity":1}`))
			if code == http.StatusCreated {
				var o e2e.Order
				if jsonErr := json.Unmarshal(body, &o); jsonErr == nil {
					last = fmt.Sprint(o.ID)
				}
			}
		case 2:
			if last != "" {
				code, _, err = e2e.Get(s.Client, s.OrdersURL+"/orders/"+last, nil)
			} else {
				code, _, err = e2e.Get(s.Client, s.OrdersURL+"/orders/1", nil)
			}
		case 3:
			code, _, err = e2e.Get(s.Client, s.CatalogURL+"/products", nil)
		case 4:
			code, _, err = e2e.Get(s.Client, fmt.Sprintf("%s/products/p%d", s.CatalogURL, n%9), nil)
		case 5:
			code, _, err = e2e.Get(s.Client, s.CatalogURL+"/work?duration=50ms", nil)
		case 6:
			code, _, err = e2e.Do(s.Client, http.MethodPost, s.OrdersURL+"/orders", nil, []byte(`{"product_id":`))
		case 7:
			code, _, err = e2e.Get(s.Client, fmt.Sprintf("%s/orders/x%d", s.OrdersURL, c), nil)
		}
		tr.total.Add(1)
		switch {
		case err != nil:
			tr.errs.Add(1)
		case code >= 500:
			tr.server5xx.Add(1)
		case code >= 400:
			tr.client4xx.Add(1)
		default:
			tr.ok.Add(1)
		}
	}
}

// runtimeStats are a process's goroutines and heap in use.
type runtimeStats struct {
	goroutines int
	heap       int64
}

// settled forces a GC in the service (the heap profile's gc=1, behind the
// admin token) and reads its goroutines and heap in use from /metrics.
func settled(t *testing.T, s *e2e.Stack, admin string) runtimeStats {
	t.Helper()
	code, body, err := e2e.Get(s.Client, admin+"/debug/pprof/heap?gc=1", http.Header{"Authorization": {"Bearer " + adminToken}})
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s/debug/pprof/heap?gc=1: %d %.200s %v", admin, code, body, err)
	}
	_, series := scrape(t, s.Client, admin+"/metrics")
	g, ok1 := series["go_goroutines"]
	h, ok2 := series["go_memstats_heap_inuse_bytes"]
	if !ok1 || !ok2 {
		t.Fatalf("%s/metrics lacks go_goroutines or go_memstats_heap_inuse_bytes", admin)
	}
	return runtimeStats{goroutines: int(g), heap: int64(h)}
}
