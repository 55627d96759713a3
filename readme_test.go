package prodready_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tourProgram wraps the README's tour into a program: the tour is the body
// of run, with a db that answers and a getOrder handler, and its fixed
// ports replaced by the ones the test gives in TOUR_HTTP_ADDR and
// TOUR_ADMIN_ADDR. Names the tour declares and does not use (client) are
// marked used before its final return.
const tourProgram = `package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/shutdown"
	"github.com/prodready/prodready/tracing"
)

var (
	_ = time.Second
	_ = health.New
	_ = metrics.NewRegistry
	_ = shutdown.New
	_ = tracing.Setup
)

type pinger struct{}

func (pinger) PingContext(context.Context) error { return nil }

func getOrder(w http.ResponseWriter, r *http.Request) {
	logging.FromContext(r.Context()).Info("order read", zap.String("order_id", r.PathValue("id")))
	_, _ = w.Write([]byte("{}"))
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var db pinger
//TOUR
}
`

// tourBlock returns the first Go block after the README's tour heading.
func tourBlock(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## The 30-second tour")
	if !ok {
		t.Fatal("README.md has no tour heading")
	}
	_, after, ok = strings.Cut(after, "```go\n")
	if !ok {
		t.Fatal("the tour has no Go block")
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("the tour's Go block does not end")
	}
	return block
}

var declared = regexp.MustCompile(`(?m)^([A-Za-z_][A-Za-z0-9_]*(?:, *[A-Za-z_][A-Za-z0-9_]*)*) :=`)

// tourSource makes the program's source from the tour.
func tourSource(t *testing.T, tour string) string {
	t.Helper()
	for _, port := range []struct{ literal, env string }{{`":8080"`, "TOUR_HTTP_ADDR"}, {`":9090"`, "TOUR_ADMIN_ADDR"}} {
		if !strings.Contains(tour, port.literal) {
			t.Fatalf("the tour no longer listens on %s; update this test", port.literal)
		}
		tour = strings.ReplaceAll(tour, port.literal, `os.Getenv("`+port.env+`")`)
	}
	lines := strings.Split(strings.TrimRight(tour, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "return ") {
		t.Fatalf("the tour no longer ends with a return: %q", last)
	}
	var used []string
	for _, m := range declared.FindAllStringSubmatch(tour, -1) {
		for name := range strings.SplitSeq(m[1], ",") {
			if name = strings.TrimSpace(name); name != "_" {
				used = append(used, "_ = "+name)
			}
		}
	}
	body := strings.Join(lines[:len(lines)-1], "\n") + "\n" + strings.Join(used, "\n") + "\n" + last
	return strings.Replace(tourProgram, "//TOUR", body, 1)
}

// buildTour compiles src as a package of this module under testdata/
// (ignored by ./... and removed afterwards) and returns the binary.
func buildTour(t *testing.T, src string) string {
	t.Helper()
	if err := os.MkdirAll("testdata", 0o750); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "tour-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(dir)
		_ = os.Remove("testdata") // only when empty: another run may be using it
	})
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "tour")
	// #nosec G204 -- the go command on a package this test wrote.
	out, err := exec.Command("go", "build", "-o", bin, "./"+filepath.ToSlash(dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's tour does not build: %v\n%s\n%s", err, out, src)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTour builds the README's 30-second tour as written, runs it, serves
// a request, changes the log level, scrapes the metrics and stops it with
// SIGTERM: every line on stdout is one JSON object, health and shutdown
// among them, and nothing is written to stderr.
func TestTour(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the README's tour")
	}
	bin := buildTour(t, tourSource(t, tourBlock(t)))
	httpAddr, adminAddr := freeAddr(t), freeAddr(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin) // #nosec G204 -- the binary built above
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TOUR_HTTP_ADDR=" + httpAddr, "TOUR_ADMIN_ADDR=" + adminAddr}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	call := func(method, url, body string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	// Ready once the first postgres check has passed; the process prints
	// nothing to poll on before that.
	ready := time.Now().Add(30 * time.Second)
	for call(http.MethodGet, "http://"+adminAddr+"/readyz", "") != http.StatusOK {
		if time.Now().After(ready) {
			t.Fatalf("the tour never became ready\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("the tour exited: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if code := call(http.MethodGet, "http://"+httpAddr+"/orders/7", ""); code != http.StatusOK {
		t.Errorf("GET /orders/7: %d", code)
	}
	if code := call(http.MethodPut, "http://"+adminAddr+"/loglevel", `{"level":"debug"}`); code != http.StatusOK {
		t.Errorf("PUT /loglevel: %d", code)
	}
	if code := call(http.MethodGet, "http://"+adminAddr+"/metrics", ""); code != http.StatusOK {
		t.Errorf("GET /metrics: %d", code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the tour exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the tour did not exit after SIGTERM")
	}

	if stderr.Len() != 0 {
		t.Errorf("the tour wrote to stderr:\n%s", stderr.String())
	}
	msgs := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("stdout line is not a JSON object: %q", sc.Text())
			continue
		}
		msg, _ := line["msg"].(string)
		msgs[msg] = true
	}
	// A line of every package that logs: the access line and the
	// handler's (logging), a health check, the level change, the shutdown.
	for _, want := range []string{"request", "order read", "health check passing", "log level set", "shutdown began"} {
		if !msgs[want] {
			t.Errorf("no %q line on stdout; lines: %v", want, msgs)
		}
	}
}
