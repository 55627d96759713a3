// Package results holds what the load and start-up tools measure, in the
// JSON files scripts/bench keeps in benchmarks/results and the report
// tool turns into BENCHMARKS.md.
package results

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// Commit names the commit of the working tree the tools run in, as
// `git rev-parse --short=12 HEAD`, with "+uncommitted" when tracked files
// other than the tools' own output (benchmarks/results, BENCHMARKS.md,
// which scripts/bench rewrites as it goes) differ from it; "unknown"
// outside a checkout. The figures it is kept with were measured on that
// code.
func Commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if dirty, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--",
		":/", ":!/benchmarks/results", ":!/BENCHMARKS.md").Output(); err == nil && len(strings.TrimSpace(string(dirty))) > 0 {
		c += "+uncommitted"
	}
	return c
}

// Load is one run of the load tool: three twins of the catalog, each
// driven by every generator, round after round.
type Load struct {
	Commit      string  `json:"commit"`      // the code measured (Commit)
	Path        string  `json:"path"`        // the URL path every request asked for
	Concurrency int     `json:"concurrency"` // connections, each with one request in flight
	Seconds     float64 `json:"seconds"`     // measured time of each round, after its warm-up
	Rounds      int     `json:"rounds"`      // rounds per target and generator, alternating targets
	// Pinned says the servers ran on ServerCPU alone and the generators
	// and the log drains on GeneratorCPU (taskset), as checked in each
	// server's /proc/PID/status.
	Pinned       bool `json:"pinned"`
	ServerCPU    int  `json:"server_cpu"`
	GeneratorCPU int  `json:"generator_cpu"`
	// StdoutPipe says each server's stdout was a pipe drained by a
	// separate process (cat > /dev/null), as checked in /proc/PID/fd/1.
	StdoutPipe bool        `json:"stdout_pipe"`
	Generators []Generator `json:"generators"`
}

// Generator is what one load generator measured of the three twins.
type Generator struct {
	Name      string  `json:"name"`      // "prodready-load" (ours, raw TCP) or "wrk"
	Command   string  `json:"command"`   // how one measured round was run
	Bare      Traffic `json:"bare"`      // the catalog's routes on a plain http.Server
	Prodready Traffic `json:"prodready"` // the catalog example as shipped
	Anchors   Traffic `json:"anchors"`   // the same routes under otelhttp, chi+zap and promhttp
}

// Traffic is one target's figures: the median over the rounds, and each
// round's.
type Traffic struct {
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Requests int     `json:"requests"` // over all rounds
	Errors   int     `json:"errors"`   // non-200 answers and broken connections, over all rounds
	// Each round, in the order they ran.
	RoundsRPS   []float64 `json:"rounds_rps"`
	RoundsP99ms []float64 `json:"rounds_p99_ms"`
}

// Round is one bounded round of one generator against one target.
type Round struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"` // elapsed, from the first request to the last answer
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

// RPS is the round's throughput.
func (r Round) RPS() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Seconds
}

// Startup is one run of the start-up tool.
type Startup struct {
	Starts  int     `json:"starts"`
	FloorMs float64 `json:"floor_ms"` // median exec → first 200 of the bare hello world
	FullMs  float64 `json:"full_ms"`  // median exec → first 200 on catalog's /livez
	// Every start, in milliseconds, in the order they ran.
	FloorRuns []float64 `json:"floor_runs_ms"`
	FullRuns  []float64 `json:"full_runs_ms"`
}

// Write stores v as indented JSON in file.
func Write(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o600)
}

// Read loads file into v.
func Read(file string, v any) error {
	b, err := os.ReadFile(file) // #nosec G304 -- a results file named by the caller
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Median of xs; 0 for none. xs is left as it was.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Sorted(slices.Values(xs))
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// Quantile q (0..1) of sorted durations, in milliseconds: the nearest
// rank, so p99 of 100 values is the 99th.
func Quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// Overload is one run of the overload tool: the catalog's stack with
// each shedder, driven with open-loop arrivals at multiples of the
// capacity.
type Overload struct {
	Commit     string  `json:"commit"` // the code measured (Commit)
	Path       string  `json:"path"`
	DeadlineMs float64 `json:"deadline_ms"` // the client's deadline of each request
	Capacity   float64 `json:"capacity"`    // C: 200s per second without a shedder, closed loop
	Pinned     bool    `json:"pinned"`      // the servers on ServerCPU alone (taskset)
	ServerCPU  int     `json:"server_cpu"`
	// Priority is the niceness of the servers' and generator's session
	// autogroups, 0 when left as they were.
	Priority    int      `json:"priority"`
	LoadAverage string   `json:"load_average"` // /proc/loadavg before the run
	Command     string   `json:"command"`
	Targets     []string `json:"targets"`
	// Levels are the rounds folded, one per level and target: medians of
	// goodput and latencies, the worst /livez, counts summed.
	Levels []Level `json:"levels"`
	Rounds []Level `json:"rounds"` // every level of every round
}

// Level is what one target did at one arrival rate.
type Level struct {
	Target   string  `json:"target"`
	Multiple float64 `json:"multiple"`  // of the capacity
	Index    int     `json:"index"`     // the level's place in the run
	Round    int     `json:"round"`     // the round; in a summary, how many rounds
	Capacity float64 `json:"capacity"`  // C of the round
	GoodputC float64 `json:"goodput_c"` // goodput ÷ C of the round
	Rate     float64 `json:"rate"`      // offered, requests per second
	Seconds  float64 `json:"seconds"`

	Sent     int `json:"sent"`
	OK       int `json:"ok"`       // 200 within the client deadline
	Refused  int `json:"refused"`  // 503
	Timeouts int `json:"timeouts"` // no answer within the deadline
	Errors   int `json:"errors"`   // anything else

	Goodput   float64 `json:"goodput"` // OK per second
	OKP50ms   float64 `json:"ok_p50_ms"`
	OKP99ms   float64 `json:"ok_p99_ms"`
	RefP99ms  float64 `json:"refused_p99_ms"`
	LivezMax  float64 `json:"livez_max_ms"`
	LivezFail int     `json:"livez_failures"`
	Limit     int     `json:"limit,omitempty"` // prodready's in-flight limit at the end
	DialError string  `json:"dial_error,omitempty"`
	// DrainSeconds is how long the server went on using the CPU after the
	// level (until it used under 8% of a CPU for 250 ms; the worst of the
	// rounds in a summary): the queue of work nobody waits for any more.
	DrainSeconds float64 `json:"drain_seconds"`
	// ServerRefusals are prodready's refusals by reason during the level
	// (summed over the rounds in a summary), from its /metrics.
	ServerRefusals map[string]int `json:"server_refusals,omitempty"`
}
