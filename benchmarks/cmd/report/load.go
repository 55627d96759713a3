package main

import (
	"fmt"
	"strings"

	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

// loadSection writes the load test's tables: one per generator, the three
// twins and the ratios the goals are about.
func loadSection(b *strings.Builder, l results.Load) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("`go run ./benchmarks/cmd/load`: three twins of the catalog example, built as binaries from the same `catalog.go` routes: ")
	p("**bare** (a plain `http.Server`), **prodready** (the example as shipped: tracing, logging with an access line per request on stdout, held in a `logging.Buffer` as the examples do, metrics, ")
	p("admission, the request deadline, panic recovery, the body limit and the server's timeouts) ")
	p("and **anchors** (otelhttp around chi's RequestID with a zap access line on stdout, around promhttp's four-handler chain, ")
	p("with the same tracing set-up: no exporter configured, so root spans are not sampled). ")
	p("GET `%s` over loopback at %d connections, %d rounds of %.0f s after a warm-up each, the three twins taking turns within each round ",
		l.Path, l.Concurrency, l.Rounds, l.Seconds)
	p("and each generator in turn; medians over the rounds. Commit measured: %s.\n\n", commitText(l.Commit))
	switch {
	case l.Pinned:
		p("Each server ran on CPU %d alone (taskset, so GOMAXPROCS was 1), the generators and the log drains on CPU %d. ", l.ServerCPU, l.GeneratorCPU)
	default:
		p("The servers were **not** pinned: the generators shared their CPUs. ")
	}
	if l.StdoutPipe {
		p("Each server's stdout was a pipe read by a `cat` of its own writing to the null device, as a container runtime's log shim reads it.\n\n")
	} else {
		p("The servers' stdout was **not** a pipe.\n\n")
	}
	for _, g := range l.Generators {
		p("### %s\n\n`%s`\n\n", g.Name, g.Command)
		p("| target | req/s | p50 | p99 | requests | errors | req/s of each round |\n|---|---|---|---|---|---|---|\n")
		for _, row := range []struct {
			name string
			t    results.Traffic
		}{{"bare", g.Bare}, {"prodready", g.Prodready}, {"anchors", g.Anchors}} {
			p("| %s | %.0f | %.2f ms | %.2f ms | %d | %d | %s |\n", row.name, row.t.RPS, row.t.P50ms, row.t.P99ms,
				row.t.Requests, row.t.Errors, joinFloats(row.t.RoundsRPS, "%.0f"))
		}
		p("| prodready ÷ bare | %s | %s | %s | | | %s |\n", ratio(g.Prodready.RPS, g.Bare.RPS),
			ratio(g.Prodready.P50ms, g.Bare.P50ms), ratio(g.Prodready.P99ms, g.Bare.P99ms),
			joinRatios(g.Prodready.RoundsRPS, g.Bare.RoundsRPS))
		p("| prodready ÷ anchors | %s | %s | %s | | | %s |\n\n", ratio(g.Prodready.RPS, g.Anchors.RPS),
			ratio(g.Prodready.P50ms, g.Anchors.P50ms), ratio(g.Prodready.P99ms, g.Anchors.P99ms),
			joinRatios(g.Prodready.RoundsRPS, g.Anchors.RoundsRPS))
	}
}

func joinFloats(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, ", ")
}

// joinRatios is the ratio of each round's figures, a over b.
func joinRatios(a, b []float64) string {
	var s []string
	for i := range min(len(a), len(b)) {
		s = append(s, ratio(a[i], b[i]))
	}
	return strings.Join(s, ", ")
}

// commitText names the commit results were measured at; results written
// before the tools kept it say so.
func commitText(c string) string {
	if c == "" {
		return "not recorded (measured before the tools kept it: an earlier commit than the header's)"
	}
	return "`" + c + "`"
}
