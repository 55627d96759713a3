package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

const sample = `goos: linux
pkg: github.com/prodready/prodready/benchmarks
BenchmarkStack/impl=bare-2         	   20000	       218.2 ns/op	      24 B/op	       2 allocs/op
BenchmarkStack/impl=bare-2         	   20000	       300.0 ns/op	      24 B/op	       2 allocs/op
BenchmarkStack/impl=bare-2         	   20000	       250.0 ns/op	      24 B/op	       2 allocs/op
BenchmarkLoggingMiddleware/quiet_handler/chi+zap-16  	 1000	 9000 ns/op	 2938 B/op	 19 allocs/op
BenchmarkLoggingMiddleware/quiet_handler/chi+zap-16  	 1000	 7000 ns/op	 2938 B/op	 20 allocs/op
BenchmarkNoMem-2   100   5.5 ns/op
    stack_test.go:12: BenchmarkStack logged something
PASS
`

func TestParseBench(t *testing.T) {
	m, order, err := parseBench(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		ns, bytes, allocs float64
		runs              int
	}{
		{"BenchmarkStack/impl=bare", 250, 24, 2, 3},
		{"BenchmarkLoggingMiddleware/quiet_handler/chi+zap", 8000, 2938, 19.5, 2},
		{"BenchmarkNoMem", 5.5, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m[tt.name]
			if !ok {
				t.Fatalf("missing; have %v", order)
			}
			want := figures{ns: tt.ns, bytes: tt.bytes, allocs: tt.allocs, runs: tt.runs}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
	if len(m) != len(tests) {
		t.Errorf("%d benchmarks, want %d: %v", len(m), len(tests), order)
	}
}

func TestBenchPattern(t *testing.T) {
	tests := []struct {
		name, matches, not string
	}{
		{"BenchmarkStack/impl=prodready", "BenchmarkStack/impl=prodready", "BenchmarkStack/impl=prodready2"},
		{"BenchmarkLoggingMiddleware/quiet_handler/chi+zap", "BenchmarkLoggingMiddleware/quiet_handler/chi+zap", "BenchmarkLoggingMiddleware/quiet_handler/chizap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := strings.Split(benchPattern(tt.name), "/")
			match := func(name string) bool {
				elems := strings.Split(name, "/")
				for i, p := range parts {
					if ok, _ := regexp.MatchString(p, elems[i]); !ok {
						return false
					}
				}
				return true
			}
			if !match(tt.matches) || match(tt.not) {
				t.Errorf("pattern %q: matches %q %v, %q %v", benchPattern(tt.name), tt.matches, match(tt.matches), tt.not, match(tt.not))
			}
		})
	}
}

func TestGoalVerdicts(t *testing.T) {
	m := medians{
		"ours":   {ns: 40, allocs: 3},
		"anchor": {ns: 100, allocs: 10},
		"floor":  {ns: 10, allocs: 2},
	}
	tests := []struct {
		name  string
		check func(medians) verdict
		met   bool
	}{
		{"ratio met", nsRatioAtMost("ours", "anchor", 0.45), true},
		{"ratio missed", nsRatioAtMost("ours", "anchor", 0.30), false},
		{"allocs met", allocsAtMost("ours", 3), true},
		{"allocs missed", allocsAtMost("ours", 2), false},
		{"own ns met", ownAtMost("ours", "floor", "ns", 30), true},
		{"own allocs missed", ownAtMost("ours", "floor", "allocs", 0), false},
		{"alloc ratio met", allocsRatioAtMost("ours", "anchor", 0.3), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.check(m)
			if v.absent != "" || v.met != tt.met || (v.miss == "") != tt.met {
				t.Errorf("%+v, want met=%v", v, tt.met)
			}
		})
	}
	if v := nsRatioAtMost("ours", "gone", 1)(m); v.absent == "" {
		t.Errorf("a missing benchmark gave %+v", v)
	}
}

func TestLoadGoals(t *testing.T) {
	gen := func(name string, bare, ours, anchors, bareP99, oursP99 float64) results.Generator {
		return results.Generator{Name: name,
			Bare:      results.Traffic{RPS: bare, P99ms: bareP99},
			Prodready: results.Traffic{RPS: ours, P99ms: oursP99},
			Anchors:   results.Traffic{RPS: anchors, P99ms: 10},
		}
	}
	l := results.Load{Concurrency: 64, Pinned: true, StdoutPipe: true, Generators: []results.Generator{
		gen("ours", 1000, 800, 450, 2, 2.5), // 0.80, 1.25x, 1.78x: all met
		gen("wrk", 1000, 700, 450, 2, 4),    // 0.70, 2x, 1.56x: all missed
	}}
	gs := loadGoals(l)
	if len(gs) != 6 {
		t.Fatalf("%d goals, want 3 per generator", len(gs))
	}
	for i, g := range gs {
		v := g.check(nil)
		if want := i < 3; v.met != want || v.absent != "" || (v.miss == "") != want {
			t.Errorf("%s %q: %+v, want met=%v", g.pkg, g.text, v, want)
		}
	}
	if !loadMissed(l) {
		t.Error("loadMissed: false with wrk's goals missed")
	}
	l.Generators = l.Generators[:1]
	if loadMissed(l) {
		t.Error("loadMissed: true with every goal met")
	}
	l.Pinned = false
	for _, g := range loadGoals(l) {
		if v := g.check(nil); v.absent == "" {
			t.Errorf("%q counted without the server pinned: %+v", g.text, v)
		}
	}
}
