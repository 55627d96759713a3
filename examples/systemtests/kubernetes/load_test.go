//go:build kubernetes

package kubernetes

import (
	"bytes"
	"errors"
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

// load runs calls from a few workers until stopped and counts what came
// back: the HTTP requests of startLoad, the RPCs of startRPCLoad.
type load struct {
	name    string
	stopped chan struct{}
	wg      sync.WaitGroup
	closers []func()      // run by stop once the workers are done
	notes   func() string // more figures for String, or nil

	ok, failed atomic.Int64
	slowest    atomic.Int64 // nanoseconds
	mu         sync.Mutex
	errs       map[string]int
}

func newLoad(t testing.TB, name string) *load {
	l := &load{name: name, stopped: make(chan struct{}), errs: map[string]int{}}
	t.Cleanup(func() { l.stop() })
	return l
}

// start runs call from workers until the load stops. pause is the wait
// between one worker's calls: the machine is shared, the point is many
// calls across the rollout, not saturation.
func (l *load) start(workers int, pause time.Duration, call func() error) {
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stopped:
					return
				default:
				}
				l.once(call)
				select {
				case <-l.stopped:
					return
				case <-time.After(pause):
				}
			}
		})
	}
}

func (l *load) once(call func() error) {
	start := time.Now()
	if err := call(); err != nil {
		l.fail(err.Error())
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

// startLoad sends HTTP requests to each target from workers, each with a
// new connection or over kept-alive ones.
func startLoad(t testing.TB, name string, keepAlive bool, workers int, pause time.Duration, targets ...target) *load {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	client := &http.Client{Timeout: 20 * time.Second, Transport: tr}
	l := newLoad(t, name)
	l.closers = append(l.closers, client.CloseIdleConnections)
	for _, tg := range targets {
		l.start(workers, pause, func() error { return request(client, tg) })
	}
	return l
}

// request sends one request and wants its status.
func request(client *http.Client, tg target) error {
	var body io.Reader
	if tg.body != "" {
		body = strings.NewReader(tg.body)
	}
	req, err := http.NewRequest(tg.method, tg.url, body)
	if err != nil {
		return err
	}
	if tg.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), tg.method+" "))
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode != tg.want {
		return fmt.Errorf("%s %s: status %d: %s", tg.method, tg.url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
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
	for _, c := range l.closers {
		c()
	}
}

// waitOK waits until n more calls have succeeded than when it was called,
// so that a phase has load on both sides of it.
func (l *load) waitOK(t testing.TB, n int64, within time.Duration) {
	t.Helper()
	from := l.ok.Load()
	eventually(t, within, 50*time.Millisecond, func() (bool, string) {
		return l.ok.Load()-from >= n, fmt.Sprintf("%s: %d calls succeeded, %d failed (%s)", l.name, l.ok.Load()-from, l.failed.Load(), l.errors())
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
	if l.notes != nil {
		s += "; " + l.notes()
	}
	if e := l.errors(); e != "" {
		s += " (" + e + ")"
	}
	return s
}
