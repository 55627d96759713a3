//go:build unix

package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// load sends orders from n clients until stopped and counts the answers.
type load struct {
	ok      atomic.Int64
	mu      sync.Mutex
	failed  []string
	stop    context.CancelFunc
	stopped sync.WaitGroup
}

func startLoad(t *testing.T, s *e2e.Stack, n int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stop: cancel}
	for i := range n {
		l.stopped.Add(1)
		go func() {
			defer l.stopped.Done()
			for ctx.Err() == nil {
				code, body, err := e2e.Do(s.Client, http.MethodPost, s.OrdersURL+"/orders", nil, []byte(`{"product_id":"p4","quantity":1}`))
				if err == nil && code == http.StatusCreated {
					l.ok.Add(1)
					continue
				}
				l.mu.Lock()
				l.failed = append(l.failed, fmt.Sprintf("client %d: %d %s %v", i, code, body, err))
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

// end stops the clients and waits for them.
func (l *load) end() {
	l.stop()
	l.stopped.Wait()
}

// waitOK waits until n more orders than now have succeeded.
func (l *load) waitOK(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	target := l.ok.Load() + n
	deadline := time.Now().Add(within)
	for l.ok.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("%d orders succeeded within %v, want %d", l.ok.Load()-target+n, within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPasswordRotation: the role's password changes, the secret file is
// updated the way the kubelet does it, the pool's connections are
// terminated; orders answers every request meanwhile, and its new
// connections authenticate with the new password.
func TestPasswordRotation(t *testing.T) {
	s := e2e.StartStack(t, bin, e2e.StackOptions{})
	backends := func() []string {
		out := s.PG.Query(t, `SELECT pid FROM pg_stat_activity WHERE usename = '`+e2e.DBRole+`' ORDER BY pid`)
		return strings.Fields(out)
	}

	l := startLoad(t, s, 4)
	l.waitOK(t, 50, 20*time.Second)
	before := backends()
	if len(before) == 0 {
		t.Fatal("orders has no connection to Postgres under load")
	}

	isReload := func(m map[string]any) bool { return m["msg"] == "secret reloaded" }
	reloads := len(s.Orders.WaitLines(isReload, 0, 0))
	s.PG.Exec(t, `ALTER ROLE `+e2e.DBRole+` PASSWORD 'second-password'`)
	e2e.WriteSecret(t, s.SecretDir, "password", "second-password\n")
	s.Orders.WaitLines(isReload, reloads+1, 5*time.Second)

	s.PG.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '`+e2e.DBRole+`'`)
	l.waitOK(t, 100, 20*time.Second)
	l.end()

	if len(l.failed) > 0 {
		t.Errorf("%d of %d requests failed during the rotation; first: %s", len(l.failed), int64(len(l.failed))+l.ok.Load(), l.failed[0])
	}
	after := backends()
	if len(after) == 0 {
		t.Fatal("no connections after the rotation")
	}
	for _, pid := range after {
		if slices.Contains(before, pid) {
			t.Errorf("backend %s survived pg_terminate_backend", pid)
		}
	}
	// The old password is refused now, so these connections used the new one.
	e2e.WaitStatus(t, s.Client, s.OrdersAdmin+"/readyz", http.StatusOK, 5*time.Second)
}
