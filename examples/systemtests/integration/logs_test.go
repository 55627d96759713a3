//go:build unix

package integration_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestBufferedLogsReachStdout: the services buffer their log lines
// (logging.Buffer), and none is lost on the way out: an access line
// comes within the flush interval while the service runs, and the line of
// the last request before SIGTERM is on stdout when the process has
// exited, in order, ahead of the shutdown's own lines.
func TestBufferedLogsReachStdout(t *testing.T) {
	p, addr, c := startLoneCatalog(t, "0s")

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

// TestBufferedLogsSurviveASecondSignal: a second SIGTERM exits at once
// (os.Exit, no Sync), and still the lines logged before it are on stdout:
// the warning that announces the exit writes out everything held.
func TestBufferedLogsSurviveASecondSignal(t *testing.T) {
	p, addr, c := startLoneCatalog(t, "30s")

	p.Signal(syscall.SIGTERM)
	p.WaitLines(func(l map[string]any) bool { return strings.HasPrefix(fmt.Sprint(l["msg"]), "draining") }, 1, 5*time.Second)
	// Still served while draining; its access line is held, and the second
	// signal comes before the flush interval is likely to have passed.
	status, body, err := e2e.Get(c, "http://"+addr+"/products/p1", http.Header{"X-Correlation-Id": {"during-drain"}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET while draining: %d %s %v", status, body, err)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Exit(20 * time.Second); code != 143 {
		t.Fatalf("exit %d, want 143", code)
	}
	logs := p.Logs()
	access := slices.IndexFunc(logs, func(l map[string]any) bool { return l["correlation_id"] == "during-drain" })
	exiting := slices.IndexFunc(logs, func(l map[string]any) bool { return l["msg"] == "second signal: exiting now" })
	if access < 0 || exiting < access {
		t.Errorf("access line at %d, exit line at %d: want both, in that order", access, exiting)
	}
}

// startLoneCatalog runs the catalog binary alone, with drain as its
// SHUTDOWN_DRAIN_DELAY, and returns once it is ready.
func startLoneCatalog(t *testing.T, drain string) (*e2e.Proc, string, *http.Client) {
	t.Helper()
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	p := e2e.Start(t, "catalog", bin.Catalog, []string{
		"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "GRPC_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN_DELAY=" + drain,
	})
	c := e2e.NewClient(t, 5*time.Second)
	e2e.WaitStatus(t, c, "http://"+admin+"/readyz", http.StatusOK, 10*time.Second)
	return p, addr, c
}
