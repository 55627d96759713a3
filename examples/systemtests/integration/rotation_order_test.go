//go:build unix

package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// rotationGap is how long the password file and the role disagree in
// TestPasswordRotationEitherOrder: the time a rotation tool takes between
// its two writes. orders' retry window (store.go, authRetryWindow) must
// cover it with room to spare.
const rotationGap = time.Second

// TestPasswordRotationEitherOrder: a rotation tool may change the role's
// password first and the Secret after it, or the Secret first; between
// the two writes, every connection orders opens is refused (28P01).
// Under load, with the pool's connections ended inside that gap so that
// every request needs a new one, no request may fail, whichever write
// comes first, rotation after rotation.
func TestPasswordRotationEitherOrder(t *testing.T) {
	tests := []struct {
		name      string
		fileFirst bool
	}{
		{"role first", false},
		{"file first", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e2e.StartStack(t, bin, e2e.StackOptions{})
			l := startTimedLoad(s, 4)
			defer l.end()
			l.waitOK(t, 50, 20*time.Second)

			const rotations = 3
			for i := range rotations {
				password := fmt.Sprintf("rotated-%d-password", i)
				writeFile := func() {
					n := reloads(s)
					e2e.WriteSecret(t, s.SecretDir, "password", password+"\n")
					s.Orders.WaitLines(isReload, n+1, 10*time.Second)
				}
				alterRole := func() {
					s.PG.Exec(t, `ALTER ROLE `+e2e.DBRole+` PASSWORD '`+password+`'`)
				}
				first, second := alterRole, writeFile
				if tt.fileFirst {
					first, second = writeFile, alterRole
				}
				first()
				// Every request from now on needs a new connection, which
				// the server refuses until the second write.
				s.PG.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '`+e2e.DBRole+`'`)
				time.Sleep(rotationGap) // the rotation tool's delay between its writes, not a wait for an event
				second()
				l.waitOK(t, 50, 20*time.Second)
			}
			l.end()

			failed, total, p99, worst := l.summary()
			t.Logf("%s: %d of %d requests failed over %d rotations with a %v gap; latency p99 %v, max %v",
				tt.name, len(failed), total, rotations, rotationGap, p99, worst)
			if len(failed) > 0 {
				t.Errorf("%d of %d requests failed; first: %s", len(failed), total, failed[0])
			}
			e2e.WaitStatus(t, s.Client, s.OrdersAdmin+"/readyz", http.StatusOK, 5*time.Second)
		})
	}
}

func isReload(m map[string]any) bool { return m["msg"] == "secret reloaded" }

func reloads(s *e2e.Stack) int {
	n := 0
	for _, l := range s.Orders.Logs() {
		if isReload(l) {
			n++
		}
	}
	return n
}

// timedLoad sends orders from n clients until stopped, keeping every
// failure and every latency.
type timedLoad struct {
	mu        sync.Mutex
	ok        int64
	okChanged chan struct{} // closed and replaced on every success
	failed    []string
	latencies []time.Duration

	stop    context.CancelFunc
	stopped sync.WaitGroup
	once    sync.Once
}

func startTimedLoad(s *e2e.Stack, n int) *timedLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &timedLoad{stop: cancel, okChanged: make(chan struct{})}
	for i := range n {
		l.stopped.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				code, body, err := e2e.Do(s.Client, http.MethodPost, s.OrdersURL+"/orders", nil, []byte(`{"product_id":"p4","quantity":1}`))
				took := time.Since(start)
				l.mu.Lock()
				l.latencies = append(l.latencies, took)
				if err == nil && code == http.StatusCreated {
					l.ok++
					close(l.okChanged)
					l.okChanged = make(chan struct{})
				} else {
					l.failed = append(l.failed, fmt.Sprintf("client %d after %v: %d %s %v", i, took.Round(time.Millisecond), code, body, err))
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// end stops the clients and waits for them; a second call does nothing.
func (l *timedLoad) end() {
	l.once.Do(func() {
		l.stop()
		l.stopped.Wait()
	})
}

// waitOK waits until n more orders than now have succeeded.
func (l *timedLoad) waitOK(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	l.mu.Lock()
	target := l.ok + n
	l.mu.Unlock()
	timeout := time.After(within)
	for {
		l.mu.Lock()
		ok, changed := l.ok, l.okChanged
		l.mu.Unlock()
		if ok >= target {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%d orders succeeded within %v, want %d", ok-target+n, within, n)
		}
	}
}

// summary returns the failures, the number of requests, and the p99 and
// maximum latency. Call it after end.
func (l *timedLoad) summary() (failed []string, total int, p99, worst time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lat := slices.Clone(l.latencies)
	slices.Sort(lat)
	if len(lat) > 0 {
		p99, worst = lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return l.failed, len(lat), p99, worst
}
