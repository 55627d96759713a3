//go:build unix

package shutdown

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestProcessBudget: a real process with a 3s budget and a 300ms drain
// gets SIGTERM while a request that would take 20s (allowed by the
// service) is in flight. The request's context is ended while the hooks'
// reserve is still ahead: the client gets the handler's 503, not an empty
// reply, the hook runs, and the process exits 0 within the budget. Before,
// the request held the server to the end of the budget: exit 1, the
// client's connection closed without an answer, the hook not run.
func TestProcessBudget(t *testing.T) {
	const budget = 3 * time.Second
	p := startChild(t, "-drain", "300ms", "-timeout", budget.String())
	type answer struct {
		code int
		body string
		err  error
	}
	held := make(chan answer, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(p.addr + "/hold?d=20s")
		if err != nil {
			held <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		held <- answer{resp.StatusCode, string(b), err}
	}()
	// Signal once the request is in the handler.
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(5 * time.Second); get(c, p.addr+"/inflight", "1") != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the handler")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sigterm := time.Now()
	p.signal(t, syscall.SIGTERM)
	code, took := p.wait(t, sigterm, 2*budget)
	a := <-held
	t.Logf("exit %d %v after SIGTERM; the 20s request: %d %q %v", code, took.Round(time.Millisecond), a.code, a.body, a.err)
	if code != 0 || took > budget {
		t.Errorf("exit %d after %v, want 0 within the %v budget", code, took, budget)
	}
	if a.err != nil || a.code != http.StatusServiceUnavailable {
		t.Errorf("the request in flight: %d %q %v, want the handler's 503", a.code, a.body, a.err)
	}
	p.stderr.WaitLine(t, `"msg":"hook done","hook":"flush"`, time.Second)
}
