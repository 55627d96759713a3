package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

// wrkReport is wrk's Lua done() hook: one line of figures a parser cannot
// mistake for wrk's own report. Times are in microseconds, as wrk keeps
// them; "status" counts answers that were not 2xx or 3xx.
const wrkReport = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("prodready-load: %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`

// wrkMarker starts the line wrkReport writes.
const wrkMarker = "prodready-load: "

// wrkGen is wrk (Debian's package) as a generator: one thread, since it
// gets one CPU, and conns connections.
type wrkGen struct {
	path   string // the wrk binary
	script string // wrkReport, written to a file
	pin    func(*exec.Cmd) *exec.Cmd
}

func newWrk(dir string, pin func(*exec.Cmd) *exec.Cmd) (*wrkGen, error) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		return nil, fmt.Errorf("%w (scripts/bench installs it: apt-get install -y wrk; or run with -generators ours)", err)
	}
	script := filepath.Join(dir, "report.lua")
	if err := os.WriteFile(script, []byte(wrkReport), 0o600); err != nil {
		return nil, err
	}
	return &wrkGen{path: path, script: script, pin: pin}, nil
}

func (g *wrkGen) name() string { return "wrk" }

func (g *wrkGen) args(addr, path string, conns int, d time.Duration) []string {
	// wrk takes whole seconds: d is rounded up.
	secs := max(int64((d+time.Second-1)/time.Second), 1)
	return []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + strconv.FormatInt(secs, 10) + "s",
		"--timeout", "5s", "-H", "User-Agent: wrk/4", "-s", g.script, "http://" + addr + path}
}

func (g *wrkGen) command(addr, path string, conns int, d time.Duration) string {
	args := g.args(addr, path, conns, d)
	for i, a := range args {
		switch {
		case a == g.script:
			args[i] = "report.lua"
		case strings.Contains(a, " "):
			args[i] = "'" + a + "'"
		}
	}
	return "wrk " + strings.Join(args, " ")
}

func (g *wrkGen) run(ctx context.Context, addr, path string, conns int, d time.Duration) (results.Round, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := g.pin(exec.CommandContext(ctx, g.path, g.args(addr, path, conns, d)...)) // #nosec G204 -- wrk with arguments of our own
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return results.Round{}, fmt.Errorf("wrk: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return parseWrk(out)
}

// parseWrk reads the line wrkReport wrote among wrk's own output.
func parseWrk(out []byte) (results.Round, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), wrkMarker)
		if !ok {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 9 {
			return results.Round{}, fmt.Errorf("wrk report %q: want 9 figures", line)
		}
		var v [9]float64
		for i, s := range f {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return results.Round{}, fmt.Errorf("wrk report %q: %w", line, err)
			}
			v[i] = x
		}
		r := results.Round{
			Requests: int(v[0]),
			Seconds:  v[1] / 1e6,
			Errors:   int(v[2] + v[3] + v[4] + v[5] + v[6]),
			P50ms:    v[7] / 1e3,
			P99ms:    v[8] / 1e3,
		}
		if v[2] > 0 && r.Requests == 0 {
			return r, errors.New("wrk could not connect")
		}
		return r, nil
	}
	return results.Round{}, fmt.Errorf("no %q line in wrk's output:\n%s", strings.TrimSpace(wrkMarker), out)
}
