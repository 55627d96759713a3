//go:build linux

package hardening_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// bin holds the services TestMain built: checked with the race detector
// when the tests have it, plain always without, for the tests that measure
// memory.
var bin struct{ checked, plain e2e.Binaries }

func TestMain(m *testing.M) {
	e2e.Main(m, func(dir string) (err error) {
		plain := filepath.Join(dir, "plain")
		if err := os.Mkdir(plain, 0o750); err != nil {
			return err
		}
		if bin.plain, err = e2e.Build(plain, false); err != nil || !e2e.Race {
			bin.checked = bin.plain
			return err
		}
		race := filepath.Join(dir, "race")
		if err := os.Mkdir(race, 0o750); err != nil {
			return err
		}
		bin.checked, err = e2e.Build(race, true)
		return err
	})
}

// rss returns the resident set size of process pid in bytes, from
// /proc/PID/status.
func rss(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("rss: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("rss: %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("rss: no VmRSS in /proc/%d/status", pid)
	return 0
}

// sample is one line of a Prometheus text exposition; label values may
// hold braces (route="/products/{id}") and escaped quotes.
var sample = regexp.MustCompile(`(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})? (\S+)`)

// scrape GETs a /metrics URL and returns its body and its samples by
// series (name plus labels).
func scrape(t testing.TB, c *http.Client, url string) ([]byte, map[string]float64) {
	t.Helper()
	code, body, err := e2e.Get(c, url, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	series := map[string]float64{}
	lines := 0
	for _, l := range bytes.Split(body, []byte("\n")) {
		if len(l) > 0 && l[0] != '#' {
			lines++
		}
	}
	matches := sample.FindAllSubmatch(body, -1)
	if len(matches) != lines {
		t.Fatalf("%s: %d sample lines, %d parsed", url, lines, len(matches))
	}
	for _, m := range matches {
		v, err := strconv.ParseFloat(string(m[3]), 64)
		if err != nil {
			t.Fatalf("%s: sample %s: %v", url, m[0], err)
		}
		series[string(m[1])+string(m[2])] = v
	}
	return body, series
}

// mib formats bytes as MiB for test logs.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// errorLines returns the log lines of p at error level or above.
func errorLines(p *e2e.Proc) []map[string]any {
	var out []map[string]any
	for _, l := range p.Logs() {
		switch l["level"] {
		case "error", "dpanic", "panic", "fatal":
			out = append(out, l)
		}
	}
	return out
}
