package main

import (
	"fmt"
	"strings"

	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

// level returns the first level of target at multiple m, and whether
// there is one.
func level(o results.Overload, target string, m float64) (results.Level, bool) {
	for _, l := range o.Levels {
		if l.Target == target && l.Multiple == m {
			return l, true
		}
	}
	return results.Level{}, false
}

// overloadGoals are the overload issue's goals, checked against the
// prodready target (and go-zero's, for the ratio). They count only with
// the server pinned to one CPU.
func overloadGoals(o results.Overload) []goal {
	cond := ""
	if !o.Pinned {
		cond = "the server was not pinned to one CPU"
	}
	pkg := "overload (" + o.Path + ")"
	check := checkUnless(cond)
	absent := func(what string) func(medians) verdict {
		return func(medians) verdict { return verdict{absent: what + " not in this run"} }
	}
	var out []goal
	for _, g := range []struct {
		m, min float64
	}{{2, 0.9}, {5, 0.8}} {
		text := fmt.Sprintf("goodput ≥ %.1f C at %g× C", g.min, g.m)
		l, ok := level(o, "prodready", g.m)
		if !ok {
			out = append(out, goal{pkg, text, absent(fmt.Sprintf("%g× C", g.m))})
			continue
		}
		r := l.GoodputC
		out = append(out, goal{pkg, text, check(r >= g.min,
			fmt.Sprintf("%.2f C (median over %d rounds; %.0f req/s, C %.0f)", r, l.Round, l.Goodput, l.Capacity), fmt.Sprintf("%.2f C", g.min-r))})
		text = fmt.Sprintf("goodput ≥ go-zero's at %g× C", g.m)
		z, ok := level(o, "gozero", g.m)
		if !ok {
			out = append(out, goal{pkg, text, absent("go-zero")})
			continue
		}
		ratio := l.GoodputC / max(z.GoodputC, 1e-9)
		out = append(out, goal{pkg, text, check(l.GoodputC >= z.GoodputC,
			fmt.Sprintf("%.2f× (%.2f C vs %.2f C)", ratio, l.GoodputC, z.GoodputC), fmt.Sprintf("%.2f C", z.GoodputC-l.GoodputC))})
	}
	var p99, ref, livez float64
	n := 0
	for _, l := range o.Levels {
		if l.Target != "prodready" {
			continue
		}
		n++
		p99, ref, livez = max(p99, l.OKP99ms), max(ref, l.RefP99ms), max(livez, l.LivezMax)
		if l.LivezFail > 0 {
			livez = max(livez, 1000.1)
		}
	}
	if n == 0 {
		return append(out, goal{pkg, "prodready", absent("prodready")})
	}
	out = append(out,
		goal{pkg, "p99 of admitted requests ≤ 250 ms at every level", check(p99 <= 250,
			fmt.Sprintf("%.0f ms at worst", p99), fmt.Sprintf("%.0f ms", p99-250))},
		goal{pkg, "refusals answered within 50 ms at p99, at every level", check(ref <= 50,
			fmt.Sprintf("%.0f ms at worst", ref), fmt.Sprintf("%.0f ms", ref-50))},
		goal{pkg, "/livez within 1 s throughout", check(livez <= 1000,
			fmt.Sprintf("%.0f ms at worst", livez), fmt.Sprintf("%.0f ms", livez-1000))},
	)
	if l, ok := level(o, "prodready", 0.8); ok {
		out = append(out, goal{pkg, "no refusal at 0.8× C", check(l.Refused == 0,
			fmt.Sprintf("%d refused of %d sent, over %d rounds", l.Refused, l.Sent, l.Round), fmt.Sprintf("%d refusals", l.Refused))})
	}
	return out
}

// overloadSection writes the overload test's table.
func overloadSection(b *strings.Builder, o results.Overload) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("`%s`: the catalog example's stack (tracing, logging with an access line per request on a pipe, metrics, the request deadline) ", o.Command)
	p("with **prodready**'s `server.Admission`, with **gozero**'s adaptive shedder (`core/load`, as its rest server applies it) in its place, ")
	p("and with **none**, each a build of the same `catalog.go` routes. GET `%s`, open-loop Poisson arrivals at multiples of the capacity ", o.Path)
	p("C = %.0f req/s (the 200s per second of the target without a shedder under a closed loop), a %.0f ms client deadline counted from when each request was due; ", o.Capacity, o.DeadlineMs)
	p("goodput is the 200s within it per second; `/livez` on the admin port was probed every 100 ms. Commit measured: %s. ", commitText(o.Commit))
	p("Every round measures C again and runs every level of every target, the targets taking turns; the table gives medians over the rounds of goodput (÷ that round's C) and latencies, the worst `/livez`, and counts summed over the rounds. ")
	if o.Pinned {
		p("Each server ran on CPU %d alone (taskset; GOMAXPROCS 1), the generator and log drains on the other. ", o.ServerCPU)
	} else {
		p("The servers were **not** pinned. ")
	}
	if o.Priority != 0 {
		p("The servers, generator and drains each ran in a session of their own whose autogroup had niceness %d: ", o.Priority)
		p("Linux shares a CPU between sessions first, so on this machine shared with other sessions that is what gave the server its core. ")
	}
	p("Load average before the run: %s. ", o.LoadAverage)
	p("After each level the tool waits until the server it drove has gone quiet (under 8%% of a CPU for 250 ms), so that a server still working through a spike's queue does not take the shared CPU from the next; that time is the *drain* column. ")
	p("The last 0.8× level comes after the 5× spike.\n\n")
	p("| target | × C | goodput | ÷ C | p99 of 200s | refused | p99 of refusals | timeouts | errors | /livez max | drain | prodready's refusals by reason, as it counted them |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range o.Levels {
		reasons := ""
		if l.ServerRefusals != nil {
			var parts []string
			for _, r := range []string{"queue", "limit", "memory", "expired"} {
				if n := l.ServerRefusals[r]; n > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", r, n))
				}
			}
			reasons = strings.Join(parts, ", ")
		}
		p("| %s | %g | %.0f | %.2f | %.0f ms | %d | %.0f ms | %d | %d | %.0f ms | %.1f s | %s |\n", l.Target, l.Multiple, l.Goodput, l.GoodputC,
			l.OKP99ms, l.Refused, l.RefP99ms, l.Timeouts, l.Errors, l.LivezMax, l.DrainSeconds, reasons)
	}
	p("\n")
}
