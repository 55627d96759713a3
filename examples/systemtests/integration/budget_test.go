//go:build unix

package integration_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestSlowRequestAtShutdown: catalog allows GET /work for 30s, longer
// than its shutdown budget (6s here, 25s by default). SIGTERM arrives
// while one runs. The shutdown ends the request while the hooks' reserve
// is still ahead: the client gets catalog's JSON 503 with its correlation
// ID, the traces and logger hooks run, and the process exits 0 within the
// budget. Before: exit 1 at the end of the budget, an empty reply, the
// hooks skipped ("the budget ran out first").
func TestSlowRequestAtShutdown(t *testing.T) {
	const budget = 6 * time.Second
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	p := e2e.Start(t, "catalog", bin.Catalog, []string{"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "GRPC_ADDR=127.0.0.1:0",
		"SHUTDOWN_TIMEOUT=" + budget.String(), "SHUTDOWN_DRAIN_DELAY=1s"})
	c := e2e.NewClient(t, 30*time.Second)
	e2e.WaitStatus(t, c, "http://"+admin+"/readyz", http.StatusOK, e2e.ReadyWithin)

	type answer struct {
		code int
		body []byte
		err  error
	}
	held := make(chan answer, 1)
	go func() {
		code, body, err := e2e.Get(c, "http://"+addr+"/work?duration=20s", http.Header{"X-Correlation-Id": {"slow-at-sigterm"}})
		held <- answer{code, body, err}
	}()
	inFlight := regexp.MustCompile(`(?m)^http_requests_in_flight(\{[^}]*\})? 1$`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, m, err := e2e.Get(c, "http://"+admin+"/metrics", nil); err == nil && inFlight.Match(m) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the /work request never showed in http_requests_in_flight")
		}
	}

	start := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.Exit(2 * budget)
	took := time.Since(start)
	a := <-held
	var body struct {
		Error         string `json:"error"`
		CorrelationID string `json:"correlation_id"`
	}
	_ = json.Unmarshal(a.body, &body)
	t.Logf("exit %d %v after SIGTERM; the 20s request: %d %s %v", code, took.Round(time.Millisecond), a.code, a.body, a.err)
	if code != 0 || took > budget {
		t.Errorf("exit %d %v after SIGTERM, want 0 within the %v budget", code, took, budget)
	}
	if a.err != nil || a.code != http.StatusServiceUnavailable || body.CorrelationID != "slow-at-sigterm" {
		t.Errorf("the request in flight: %d %s %v, want a JSON 503 with its correlation ID", a.code, a.body, a.err)
	}
	for _, hook := range []string{"traces", "logger"} {
		if !hasLog(p, "hook done", hook) {
			t.Errorf("no \"hook done\" line for %q", hook)
		}
	}
}

func hasLog(p *e2e.Proc, msg, hook string) bool {
	for _, l := range p.Logs() {
		if l["msg"] == msg && l["hook"] == hook {
			return true
		}
	}
	return false
}
