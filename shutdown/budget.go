package shutdown

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ErrBudget is the cause (context.Cause) of a request context the Manager
// ended because the shutdown's budget would not let the request finish
// and the hooks still run: the handler should answer at once (503, retry
// elsewhere), as it would for its own deadline.
var ErrBudget = errors.New("shutdown: request ended: the shutdown budget leaves it no more time")

// answerGrace is how long before the servers' deadline the requests still
// running have their contexts ended: the time a handler has to write its
// answer before the servers are closed.
const answerGrace = time.Second

// The servers' share of the budget. A request in flight at a shutdown may
// last longer than the budget allows (a 30 s request under a 25 s budget);
// waiting for it to the end of the budget leaves the hooks none (the
// traces and logs are lost, the process exits 1) and the client an empty
// reply when the server is closed under it. So the servers must be done
// by the end of the budget less a reserve for what runs after them (each
// hook's HookTimeout, and one for the workers, at most half of what is
// left once the drain is over), and a second before that every request
// still running has its context ended with ErrBudget: a handler that
// honours its context answers (a 503 the client sees), the servers stop,
// and the hooks run in the reserve.

// joinBudget makes srv's request contexts end with ErrBudget when the
// servers' share of the budget runs out: every connection's context
// descends from srv.BaseContext, which joins the Manager's.
func (m *Manager) joinBudget(srv *http.Server) {
	prev := srv.BaseContext
	if prev == nil {
		srv.BaseContext = func(net.Listener) context.Context { return m.serveCtx }
		return
	}
	srv.BaseContext = func(ln net.Listener) context.Context {
		ctx, cancel := context.WithCancelCause(prev(ln))
		context.AfterFunc(m.serveCtx, func() { cancel(context.Cause(m.serveCtx)) })
		return ctx
	}
}

// reserve is the part of what is left of the budget (left) kept for the
// steps after the servers: HookTimeout for each hook and one for the
// workers, at most half.
func (m *Manager) reserve(left time.Duration) time.Duration {
	m.mu.Lock()
	steps := len(m.hooks)
	if len(m.workers) > 0 {
		steps++
	}
	m.mu.Unlock()
	return min(time.Duration(steps)*m.cfg.hookTimeout, left/2)
}

// serversContext returns the context the servers are stopped under: it
// ends when the reserve begins. answerGrace before that (or half-way
// there, when that is sooner), the requests still running are ended.
func (m *Manager) serversContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	by := deadline.Add(-m.reserve(time.Until(deadline)))
	share := time.Until(by)
	end := time.AfterFunc(share-min(answerGrace, share/2), func() { m.serveCancel(ErrBudget) })
	sctx, cancel := context.WithDeadline(ctx, by)
	return sctx, func() {
		end.Stop()
		cancel()
	}
}
