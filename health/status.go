package health

import (
	"context"
	"sync"
)

// Ready reports whether the readiness checks pass, as GET /readyz would
// answer 200: false while draining, false while a critical readiness
// check fails or has not passed once, and false when ctx ends before the
// on-demand checks are decided. On-demand checks run (or join the run in
// flight) as for a probe; Interval checks are read. It is for a server
// other than HTTP, a gRPC health service, to answer from the same state
// as /readyz.
func (c *Checker) Ready(ctx context.Context) bool {
	if c.draining.Load() {
		return false
	}
	all := c.list(Readiness)
	var runs []*run
	for _, ch := range all {
		if ch.interval == 0 {
			runs = append(runs, ch.join())
		}
	}
	for _, run := range runs {
		select {
		case <-run.done:
		case <-ctx.Done():
			return false
		}
	}
	for _, ch := range all {
		if ch.read().status == Fail {
			return false
		}
	}
	return !c.draining.Load() // Drain may have come while the checks ran
}

// Changed returns a channel that is closed at the next event that may
// change what Ready reports: Drain, a readiness check whose status
// changed, a readiness check added or replaced. Take a new channel after
// each close, then call Ready: a watcher that does this in a loop sees
// every change without polling. An on-demand check changes only when
// something runs it (a probe, Ready); an Interval check changes by itself.
func (c *Checker) Changed() <-chan struct{} {
	c.status.mu.Lock()
	defer c.status.mu.Unlock()
	if c.status.ch == nil {
		c.status.ch = make(chan struct{})
	}
	return c.status.ch
}

// notifier wakes the callers of Changed; its zero value is ready.
type notifier struct {
	mu sync.Mutex
	ch chan struct{} // nil until someone waits
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
