//go:build unix

package integration_test

import (
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/internal/e2e"
)

// TestBufferedLogsReachStdout: the services buffer their log lines
// (logging.Buffer), and none is lost on the way out: an access line
// comes within the flush interval while the service runs, and the line of
// the last request before SIGTERM is on stdout when the process has
// exited, in order, ahead of the shutdown's own lines.
func TestBufferedLogsReachStdout(t *testing.T) {
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	p := e2e.Start(t, "catalog", bin.Catalog, []string{
		"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "SHUTDOWN_DRAIN_DELAY=0s",
	})
	c := e2e.NewClient(t, 5*time.Second)
	e2e.WaitStatus(t, c, "http://"+admin+"/readyz", http.StatusOK, 10*time.Second)

	get := func(id string) {
		t.Helper()
		status, body, err := e2e.Get(c, "http://"+addr+"/products/p1", http.Header{"X-Correlation-Id": {id}})
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET: %d %s %v", status, body, err)
		}
	}
	withID := func(id string) func(map[string]any) bool {
		return func(l map[string]any) bool { return l["correlation_id"] == id && l["msg"] == "request" }
	}
	get("while-running")
	// The flush interval is 100ms; the bound is for a stalled machine.
	p.WaitLines(withID("while-running"), 1, 5*time.Second)

	get("last-before-sigterm")
	p.Signal(syscall.SIGTERM)
	if code := p.Exit(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := p.Logs()
	last := slices.IndexFunc(logs, withID("last-before-sigterm"))
	if last < 0 {
		t.Fatal("the access line of the last request is not on stdout after the exit")
	}
	began := slices.IndexFunc(logs, func(l map[string]any) bool { return l["msg"] == "shutdown began" })
	done := slices.IndexFunc(logs, func(l map[string]any) bool { return l["msg"] == "shutdown done" })
	if began < last || done < began {
		t.Errorf("lines out of order: last access line %d, shutdown began %d, shutdown done %d", last, began, done)
	}
}
