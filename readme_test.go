package prodready_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// tourProgram wraps the README's tour into a program: the tour is the body
// of run, with a db that answers and a getOrder handler; it reads its
// ports from HTTP_ADDR and ADMIN_ADDR, which the test sets. Names the tour
// declares and does not use (client) are marked used before its final
// return.
const tourProgram = `package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/memlimit"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/secrets"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/shutdown"
	"github.com/prodready/prodready/tracing"
)

var (
	_ = time.Second
	_ = net.Listen
	_ = health.New
	_ = memlimit.Apply
	_ = metrics.NewRegistry
	_ = secrets.Watch
	_ = server.New
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
func tourBlock(t *testing.T) string { return readmeBlock(t, "## The 30-second tour", "go") }

// readmeBlock returns the first block fenced as lang after heading in
// README.md.
func readmeBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), heading)
	if !ok {
		t.Fatalf("README.md has no heading %q", heading)
	}
	_, after, ok = strings.Cut(after, "```"+lang+"\n")
	if !ok {
		t.Fatalf("%q has no %s block", heading, lang)
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatalf("the %s block under %q does not end", lang, heading)
	}
	return block
}

var declared = regexp.MustCompile(`(?m)^([A-Za-z_][A-Za-z0-9_]*(?:, *[A-Za-z_][A-Za-z0-9_]*)*) :=`)

// tourSource makes the program's source from the tour.
func tourSource(t *testing.T, tour string) string {
	t.Helper()
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
	const token = "tour-admin-token-0001"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin) // #nosec G204 -- the binary built above
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=" + httpAddr, "ADMIN_ADDR=" + adminAddr,
		"ADMIN_TOKEN_FILE=" + tokenFile, "SHUTDOWN_DRAIN_DELAY=1s"}
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
	call := func(method, url, body string, header ...string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
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
	if code := call(http.MethodPut, "http://"+adminAddr+"/loglevel", `{"level":"debug"}`); code != http.StatusUnauthorized {
		t.Errorf("PUT /loglevel without the token: %d, want 401", code)
	}
	if code := call(http.MethodPut, "http://"+adminAddr+"/loglevel", `{"level":"debug"}`, "Authorization", "Bearer "+token); code != http.StatusOK {
		t.Errorf("PUT /loglevel with the token: %d", code)
	}
	if code := call(http.MethodGet, "http://"+adminAddr+"/debug/health", "", "Authorization", "Bearer "+token); code != http.StatusOK {
		t.Errorf("GET /debug/health with the token: %d", code)
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

// TestReadmeRunBlock runs the README's run block with bash, as a script:
// it serves, answers, and stops the service with the exit status shown;
// once it has ended, nothing it started runs or listens. Only the ports
// (free ones instead of 8080 and 9090, through HTTP_ADDR and ADMIN_ADDR)
// and the binary's path (a temporary directory instead of /tmp/catalog)
// are changed, so that parallel runs do not meet.
func TestReadmeRunBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds catalog and runs the README's run block")
	}
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool, "install it (Debian: apt-get install "+tool+")")
		}
	}
	block := readmeBlock(t, "## Two commands", "sh")
	httpAddr, adminAddr := freeAddr(t), freeAddr(t)
	bin := filepath.Join(t.TempDir(), "catalog")
	script := strings.NewReplacer("/tmp/catalog", bin,
		"localhost:8080", httpAddr, "localhost:9090", adminAddr).Replace(block)
	for _, want := range []string{bin, httpAddr, adminAddr} {
		if !strings.Contains(script, want) {
			t.Fatalf("the run block no longer names %s's original; update this test:\n%s", want, block)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script) // #nosec G204 -- the README's own block
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+httpAddr, "ADMIN_ADDR="+adminAddr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On a failure, nothing of it is left behind: the whole group goes.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A service the block left running holds its output open: stop
	// reading shortly after bash has exited, and let the checks below
	// find it.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("the run block said:\n%s", out)
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }() // what it left, if anything
	if err != nil {
		t.Errorf("the run block failed: %v", err)
	}
	if !strings.Contains(string(out), `"id":"p1"`) {
		t.Error("the run block's curl got no product")
	}
	if !strings.Contains(string(out), "\nexit 0\n") {
		t.Error(`the run block does not show "exit 0" after the shutdown`)
	}
	for _, addr := range []string{httpAddr, adminAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			t.Errorf("%s still accepts connections after the run block ended", addr)
		}
	}
	if pids := running(t, bin); len(pids) > 0 {
		t.Errorf("the service still runs after the run block ended: pids %v", pids)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// running returns the processes running the executable bin.
func running(t *testing.T, bin string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == bin {
			pids = append(pids, pid)
		}
	}
	return pids
}
