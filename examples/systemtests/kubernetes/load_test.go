//go:build kubernetes

package kubernetes

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// target is one kind of request a load sends, and the status it wants.
type target struct {
	method, url, body string
	want              int
}

// load sends requests from a few workers until stopped, each with a new
// connection or over kept-alive ones, and counts what came back.
type load struct {
	name    string
	client  *http.Client
	stopped chan struct{}
	wg      sync.WaitGroup

	ok, failed atomic.Int64
	slowest    atomic.Int64 // nanoseconds
	mu         sync.Mutex
	errs       map[string]int
}

// startLoad starts workers per target. pause is the wait between one
// worker's requests: the machine is shared, the point is many requests
// across the rollout, not saturation.
func startLoad(t testing.TB, name string, keepAlive bool, workers int, pause time.Duration, targets ...target) *load {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	l := &load{
		name:    name,
		client:  &http.Client{Timeout: 20 * time.Second, Transport: tr},
		stopped: make(chan struct{}),
		errs:    map[string]int{},
	}
	for _, tg := range targets {
		for range workers {
			l.wg.Go(func() {
				for {
					select {
					case <-l.stopped:
						return
					default:
					}
					l.once(tg)
					select {
					case <-l.stopped:
						return
					case <-time.After(pause):
					}
				}
			})
		}
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) once(tg target) {
	start := time.Now()
	var body io.Reader
	if tg.body != "" {
		body = strings.NewReader(tg.body)
	}
	req, err := http.NewRequest(tg.method, tg.url, body)
	if err != nil {
		l.fail(err.Error())
		return
	}
	if tg.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.client.Do(req)
	if err != nil {
		l.fail(strings.TrimPrefix(err.Error(), tg.method+" "))
		return
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode != tg.want {
		l.fail(fmt.Sprintf("%s %s: status %d: %s", tg.method, tg.url, resp.StatusCode, bytes.TrimSpace(b)))
		return
	}
	l.ok.Add(1)
	d := int64(time.Since(start))
	for {
		cur := l.slowest.Load()
		if d <= cur || l.slowest.CompareAndSwap(cur, d) {
			break
		}
	}
}

func (l *load) fail(why string) {
	l.failed.Add(1)
	l.mu.Lock()
	l.errs[why]++
	l.mu.Unlock()
}

// stop stops the workers and waits for them; a second call does nothing.
func (l *load) stop() {
	select {
	case <-l.stopped:
		return
	default:
	}
	close(l.stopped)
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// waitOK waits until n more requests have succeeded than when it was
// called, so that a phase has load on both sides of it.
func (l *load) waitOK(t testing.TB, n int64, within time.Duration) {
	t.Helper()
	from := l.ok.Load()
	eventually(t, within, 50*time.Millisecond, func() (bool, string) {
		return l.ok.Load()-from >= n, fmt.Sprintf("%s: %d requests succeeded, %d failed (%s)", l.name, l.ok.Load()-from, l.failed.Load(), l.errors())
	})
}

func (l *load) errors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var es []string
	for e, n := range l.errs {
		es = append(es, fmt.Sprintf("%d× %s", n, e))
	}
	sort.Strings(es)
	return strings.Join(es, "; ")
}

func (l *load) String() string {
	s := fmt.Sprintf("%s: %d requests, %d failed, slowest %.2fs", l.name, l.ok.Load()+l.failed.Load(), l.failed.Load(),
		time.Duration(l.slowest.Load()).Seconds())
	if e := l.errors(); e != "" {
		s += " (" + e + ")"
	}
	return s
}
