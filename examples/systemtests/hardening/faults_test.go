//go:build linux

package hardening_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
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

// frozenTarget is one orders process of TestPostgresFrozen and what its
// clients saw.
type frozenTarget struct {
	name       string
	proc       *e2e.Proc
	url, admin string
	deadline   time.Duration // HTTP_REQUEST_TIMEOUT
	want       int           // the status a request waiting on the frozen database gets
	orderID    int64         // an order to read back
	ok         atomic.Int64
	baseline   int // goroutines at rest before the freeze
	mu         sync.Mutex
	answers    []frozenAnswer
}

// frozenAnswer is one request of TestPostgresFrozen.
type frozenAnswer struct {
	id    string
	began time.Time
	took  time.Duration
	code  int
	body  []byte
	err   error
}

// TestPostgresFrozen: Postgres frozen (SIGSTOP to all its processes: a
// host that hangs, its connections open and unanswered, new ones accepted
// by the kernel and never served) for freezeFor, while clients create
// orders and read one back, against two orders processes: one whose
// request deadline (HTTP_REQUEST_TIMEOUT=2s) comes before its query
// timeout (5s, the default), and one whose query timeout
// (DATABASE_QUERY_TIMEOUT=1s) comes first. Every request is answered
// within its deadline plus a second: the order, or a JSON 504 (the
// request's deadline) or 503 (the query's) naming its correlation ID.
// When Postgres resumes, the pools recover, and at rest the goroutines
// are back where they were before the freeze.
func TestPostgresFrozen(t *testing.T) {
	const (
		clients   = 3 // per orders process
		freezeFor = 5 * time.Second
		slack     = time.Second
		// The band: the connections of orders' pools to catalog, two
		// goroutines each, may differ from one rest to the next.
		goroutineBand = 12
	)
	s := startOrders(t, bin.checked, "HTTP_REQUEST_TIMEOUT=2s")
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	second := e2e.Start(t, "orders-2", bin.checked.Orders, append(slices.Clone(s.OrdersEnviron),
		"HTTP_ADDR="+addr, "ADMIN_ADDR="+admin, "HTTP_REQUEST_TIMEOUT=3s", "DATABASE_QUERY_TIMEOUT=1s"))
	e2e.WaitStatus(t, s.Client, "http://"+admin+"/readyz", http.StatusOK, e2e.ReadyWithin)
	targets := []*frozenTarget{
		{name: "request deadline first", proc: s.Orders, url: s.OrdersURL, admin: s.OrdersAdmin, deadline: 2 * time.Second, want: http.StatusGatewayTimeout},
		{name: "query timeout first", proc: second, url: "http://" + addr, admin: "http://" + admin, deadline: 3 * time.Second, want: http.StatusServiceUnavailable},
	}
	for _, tg := range targets {
		code, body, err := e2e.Do(s.Client, http.MethodPost, tg.url+"/orders", nil, []byte(`{"product_id":"p1","quantity":1}`))
		var o e2e.Order
		if err != nil || code != http.StatusCreated || json.Unmarshal(body, &o) != nil {
			t.Fatalf("%s: POST /orders: %d %s %v", tg.name, code, body, err)
		}
		tg.orderID = o.ID
	}

	// load sends orders and reads one back, half and half, until ctx ends.
	load := func(ctx context.Context) (wait func()) {
		var wg sync.WaitGroup
		for ti, tg := range targets {
			for c := range clients {
				wg.Go(func() {
					for n := 0; ctx.Err() == nil; n++ {
						a := frozenAnswer{id: fmt.Sprintf("pg-frozen-%d-%d-%d", ti, c, n), began: time.Now()}
						header := http.Header{"X-Correlation-Id": {a.id}}
						if n%2 == 0 {
							a.code, a.body, a.err = e2e.Do(s.Client, http.MethodPost, tg.url+"/orders", header, []byte(`{"product_id":"p1","quantity":1}`))
						} else {
							a.code, a.body, a.err = e2e.Get(s.Client, tg.url+"/orders/"+strconv.FormatInt(tg.orderID, 10), header)
						}
						a.took = time.Since(a.began)
						if a.err == nil && a.code < 300 {
							tg.ok.Add(1)
						} else {
							time.Sleep(10 * time.Millisecond) // refused: do not spin
						}
						tg.mu.Lock()
						tg.answers = append(tg.answers, a)
						tg.mu.Unlock()
					}
				})
			}
		}
		return wg.Wait
	}
	// until waits until every target has served n more requests.
	until := func(n int64, within time.Duration) {
		t.Helper()
		for _, tg := range targets {
			waitCount(t, &tg.ok, tg.ok.Load()+n, within)
		}
	}

	// Warm up, so the pools hold their connections, then count goroutines
	// at rest.
	ctx, stop := context.WithCancel(context.Background())
	wait := load(ctx)
	until(20, 10*time.Second)
	stop()
	wait()
	for _, tg := range targets {
		tg.baseline = goroutinesAtRest(t, s, tg.admin, 0, 0)
	}

	ctx, stop = context.WithCancel(context.Background())
	defer stop()
	wait = load(ctx)
	until(10, 10*time.Second)
	s.PG.Freeze(t)
	frozenAt := time.Now() // every process of it stopped
	time.Sleep(freezeFor)
	thawedAt := time.Now()
	s.PG.Thaw(t)
	for _, tg := range targets {
		e2e.WaitStatus(t, s.Client, tg.admin+"/readyz", http.StatusOK, 10*time.Second)
	}
	until(20, 10*time.Second)
	stop()
	wait()

	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			var frozen, wanted int
			codes := map[string]int{} // of the answers while frozen, by status and how long they took
			var slowest time.Duration
			var bad []string
			for _, a := range tg.answers {
				slowest = max(slowest, a.took)
				var e e2e.ErrorBody
				switch {
				case a.err != nil:
					bad = append(bad, fmt.Sprintf("%s: no answer after %v: %v", a.id, a.took, a.err))
				case a.took > tg.deadline+slack:
					bad = append(bad, fmt.Sprintf("%s: %d after %v, past the deadline %v + %v", a.id, a.code, a.took, tg.deadline, slack))
				case a.code == http.StatusOK || a.code == http.StatusCreated:
				case a.code != http.StatusServiceUnavailable && a.code != http.StatusGatewayTimeout:
					bad = append(bad, fmt.Sprintf("%s: %d %s", a.id, a.code, a.body))
				case json.Unmarshal(a.body, &e) != nil || e.Error == "" || e.CorrelationID != a.id:
					bad = append(bad, fmt.Sprintf("%s: %d not a JSON error naming the correlation ID: %s", a.id, a.code, a.body))
				}
				if a.code == tg.want {
					wanted++
				}
				if !a.began.Before(frozenAt) && a.began.Add(a.took).Before(thawedAt) {
					frozen++
					codes[fmt.Sprintf("%d in %.1fs", a.code, a.took.Seconds())]++
					if a.code == http.StatusOK || a.code == http.StatusCreated {
						bad = append(bad, fmt.Sprintf("%s: %d while Postgres was frozen", a.id, a.code))
					}
				}
			}
			t.Logf("%d requests, %d of them %d; %d begun and answered while Postgres was frozen: %v; slowest %v (deadline %v)",
				len(tg.answers), wanted, tg.want, frozen, codes, slowest.Round(time.Millisecond), tg.deadline)
			for i, b := range bad {
				if i == 10 {
					t.Errorf("… and %d more", len(bad)-i)
					break
				}
				t.Error(b)
			}
			if wanted < clients {
				t.Errorf("%d answers %d, want at least %d (one per client: a freeze of %v is longer than the deadline)", wanted, tg.want, clients, freezeFor)
			}
			after := goroutinesAtRest(t, s, tg.admin, tg.baseline, goroutineBand)
			t.Logf("goroutines at rest: %d before the freeze, %d after", tg.baseline, after)
			if !tg.proc.Running() {
				t.Errorf("%s exited", tg.proc.Name())
			}
			for _, l := range errorLines(tg.proc) {
				if l["msg"] != "database" && (l["msg"] != "request" || l["status"] == nil || l["status"].(float64) < 500) {
					t.Errorf("unexpected error line: %v", l)
				}
			}
		})
	}
}

// goroutinesAtRest reads a service's goroutines from its /metrics once the
// test's client holds no connection to it, polling for up to 5s until
// they are within band of want (band 0: the first reading). It fails the
// test when they do not come down.
func goroutinesAtRest(t *testing.T, s *e2e.Stack, admin string, want, band int) int {
	t.Helper()
	s.Client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(200 * time.Millisecond)
		_, series := scrape(t, s.Client, admin+"/metrics")
		s.Client.CloseIdleConnections()
		n := int(series["go_goroutines"])
		if band == 0 || n <= want+band {
			return n
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %d goroutines at rest, %d before (band +%d): they grew", admin, n, want, band)
			return n
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
