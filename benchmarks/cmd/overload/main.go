// Command overload measures goodput under overload: the catalog example's
// stack with prodready's server.Admission, with go-zero's adaptive shedder
// (core/load) in its place, and with no shedder, each built from the same
// catalog.go routes (catalog_overload.go replaces main.go), driven with
// open-loop arrivals (a spike does not slow down because the server does)
// at multiples of the capacity C, with a client deadline.
//
//	go run ./benchmarks/cmd/overload                     # CPU-bound: GET /work?cpu=2ms
//	go run ./benchmarks/cmd/overload -path '/db?ms=10'   # I/O-bound: 8 slots of 10 ms
//	go run ./benchmarks/cmd/overload -json out.json
//
// C is measured first: the 200s per second of the target without a
// shedder under a closed loop of -c connections. Then, level after level
// (-levels, multiples of C; Poisson arrivals), each target in turn gets
// -d of traffic after a pause that lets the one before drain. Each request
// is given up -deadline after it was due; goodput is the 200s within it
// per second. /livez on the admin port is probed every 100 ms throughout.
// With two CPUs or more and taskset, the servers run on -server-cpu alone
// (GOMAXPROCS 1) and the generator and log drains on -generator-cpu.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prodready/prodready/benchmarks/cmd/internal/bin"
	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

const catalogPkg = "github.com/prodready/prodready/examples/catalog"

//go:embed catalog_overload.go
var twinMain []byte

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "drive":
		err = driveCmd(os.Args[2:], os.Stdout)
	default:
		err = run(context.Background(), os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "overload:", err)
		os.Exit(1)
	}
}

type settings struct {
	path              string
	dur, pause, dl    time.Duration
	levels            []float64
	targets           []string
	conns, maxConns   int
	pin               bool
	nice              int
	serverCPU, genCPU int
	capacity          float64
	rounds            int
	self              string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("overload", flag.ContinueOnError)
	var s settings
	fs.StringVar(&s.path, "path", "/work?cpu=2ms", "URL path to request")
	fs.DurationVar(&s.dur, "d", 3*time.Second, "traffic per target and level")
	fs.DurationVar(&s.pause, "pause", 1500*time.Millisecond, "pause before each target's level, to drain the last")
	fs.DurationVar(&s.dl, "deadline", time.Second, "client deadline of each request")
	fs.IntVar(&s.rounds, "rounds", 3, "rounds: every level of every target, C measured again first")
	levels := fs.String("levels", "0.8,1,2,5,0.8", "arrival rates, multiples of the capacity (the last 0.8: after the spike)")
	targets := fs.String("targets", "prodready,gozero,none", "shedders to compare")
	fs.IntVar(&s.conns, "c", 16, "connections of the closed loop that measures the capacity")
	fs.IntVar(&s.maxConns, "max-conns", 4000, "connections the open-loop generator may open")
	fs.Float64Var(&s.capacity, "capacity", 0, "the capacity in requests per second (0: measure it)")
	fs.IntVar(&s.serverCPU, "server-cpu", 0, "the CPU the servers run on")
	fs.IntVar(&s.genCPU, "generator-cpu", 1, "the CPU the generator and log drains run on")
	pin := fs.String("pin", "auto", "pin with taskset: auto, true, false")
	fs.IntVar(&s.nice, "priority", 0, "run the servers, generator and log drains each in a session of its own whose autogroup has this niceness (-10: ahead of the machine's other sessions, so the server has its core; needs CAP_SYS_NICE); 0: leave them in this session")
	jsonOut := fs.String("json", "", "write the figures to this file as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range strings.Split(*levels, ",") {
		m, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || m <= 0 || m > 20 {
			return fmt.Errorf("-levels: %q is not a multiple between 0 and 20", f)
		}
		s.levels = append(s.levels, m)
	}
	for _, t := range strings.Split(*targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case "prodready", "gozero", "none":
			s.targets = append(s.targets, t)
		default:
			return fmt.Errorf("-targets: unknown %q (want prodready, gozero, none)", t)
		}
	}
	if s.rounds < 1 || s.rounds > 10 {
		return errors.New("need 1 <= -rounds <= 10")
	}
	if s.dur <= 0 || s.dur > time.Minute || s.dl <= 0 || s.dl > 10*time.Second || s.conns < 1 || s.maxConns < 1 {
		return errors.New("need 0 < -d <= 1m, 0 < -deadline <= 10s, -c >= 1, -max-conns >= 1")
	}
	var err error
	if s.pin, err = bin.Pin(*pin, s.serverCPU, s.genCPU); err != nil {
		return err
	}
	if s.self, err = os.Executable(); err != nil {
		return err
	}

	res := results.Overload{Commit: results.Commit(), Path: s.path, DeadlineMs: float64(s.dl) / 1e6, Pinned: s.pin, Priority: s.nice, ServerCPU: s.serverCPU,
		LoadAverage: loadAverage(), Targets: s.targets,
		Command: "go run ./benchmarks/cmd/overload " + strings.Join(args, " ")}
	fmt.Fprintf(os.Stderr, "overload: load average %s\n", res.LoadAverage)

	dir, err := os.MkdirTemp("", "prodready-overload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	binary, err := build(ctx, dir)
	if err != nil {
		return err
	}
	servers := map[string]*server{}
	for _, t := range uniq(append([]string{"none"}, s.targets...)) {
		srv, err := s.start(t, binary)
		if err != nil {
			return err
		}
		defer srv.stop()
		servers[t] = srv
	}

	for _, t := range s.targets { // warm each up: the first requests pay for start-up
		if _, err := closedLoop(servers[t].addr, s.path, s.conns, time.Second); err != nil {
			return fmt.Errorf("warm-up of %s: %w", t, err)
		}
	}
	var caps []float64
	for r := range s.rounds {
		c := s.capacity
		drain(servers["none"], time.Minute)
		if c == 0 {
			// Each round measures C again, on the target without a
			// shedder: the machine's other work moves it.
			if c, err = closedLoop(servers["none"].addr, s.path, s.conns, 2*time.Second); err != nil {
				return fmt.Errorf("capacity: %w", err)
			}
		}
		caps = append(caps, c)
		fmt.Fprintf(os.Stderr, "overload: round %d: capacity C = %.0f req/s (%s, closed loop, %d connections)\n", r+1, c, s.path, s.conns)
		for i, m := range s.levels {
			for _, t := range s.targets {
				time.Sleep(s.pause)
				srv := servers[t]
				_, before := scrape(srv.admin)
				lv, err := s.drive(srv, m*c)
				if err != nil {
					return fmt.Errorf("%s at %.1fx: %w", t, m, err)
				}
				lv.Target, lv.Multiple, lv.Index, lv.Round, lv.Capacity = t, m, i, r+1, c
				lv.GoodputC = lv.Goodput / c
				lv.DrainSeconds = drain(srv, time.Minute).Seconds()
				if t == "prodready" {
					var after map[string]int
					lv.Limit, after = scrape(srv.admin)
					for reason, n := range after {
						after[reason] = n - before[reason]
					}
					lv.ServerRefusals = after
				}
				fmt.Fprintf(os.Stderr, "overload: %-9s %.1fxC  goodput %6.0f/s (%.2f C)  ok p99 %6.1f ms  refused %5d (p99 %5.1f ms)  timeouts %5d  errors %d  livez max %.0f ms  limit %d  server refusals %v  drained in %.1f s\n",
					t, m, lv.Goodput, lv.GoodputC, lv.OKP99ms, lv.Refused, lv.RefP99ms, lv.Timeouts, lv.Errors, lv.LivezMax, lv.Limit, lv.ServerRefusals, lv.DrainSeconds)
				res.Rounds = append(res.Rounds, lv)
			}
		}
	}
	res.Capacity = results.Median(caps)
	res.Levels = summarize(res.Rounds, s.levels, s.targets)
	report(out, res)
	if *jsonOut != "" {
		return results.Write(*jsonOut, res)
	}
	return nil
}

// summarize folds the rounds into one Level per level and target: the
// medians of goodput and latencies, the worst /livez, and the counts
// summed over the rounds (so a refusal in any round shows).
func summarize(rounds []results.Level, levels []float64, targets []string) []results.Level {
	var out []results.Level
	for i, m := range levels {
		for _, t := range targets {
			sum := results.Level{Target: t, Multiple: m, Index: i}
			var good, goodC, c, okP50, okP99, refP99 []float64
			for _, l := range rounds {
				if l.Index != i || l.Target != t {
					continue
				}
				good, goodC, c = append(good, l.Goodput), append(goodC, l.GoodputC), append(c, l.Capacity)
				okP50, okP99, refP99 = append(okP50, l.OKP50ms), append(okP99, l.OKP99ms), append(refP99, l.RefP99ms)
				sum.Rate += l.Rate
				sum.Seconds += l.Seconds
				sum.Sent += l.Sent
				sum.OK += l.OK
				sum.Refused += l.Refused
				sum.Timeouts += l.Timeouts
				sum.Errors += l.Errors
				sum.LivezFail += l.LivezFail
				sum.LivezMax = max(sum.LivezMax, l.LivezMax)
				sum.DrainSeconds = max(sum.DrainSeconds, l.DrainSeconds)
				sum.Limit = l.Limit
				for reason, n := range l.ServerRefusals {
					if sum.ServerRefusals == nil {
						sum.ServerRefusals = map[string]int{}
					}
					sum.ServerRefusals[reason] += n
				}
				sum.Round++
			}
			if sum.Round == 0 {
				continue
			}
			sum.Rate /= float64(sum.Round)
			sum.Goodput, sum.GoodputC, sum.Capacity = results.Median(good), results.Median(goodC), results.Median(c)
			sum.OKP50ms, sum.OKP99ms, sum.RefP99ms = results.Median(okP50), results.Median(okP99), results.Median(refP99)
			out = append(out, sum)
		}
	}
	return out
}

func uniq(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !strings.Contains(","+strings.Join(out, ",")+",", ","+x+",") {
			out = append(out, x)
		}
	}
	return out
}

// report prints the table.
func report(w io.Writer, r results.Overload) {
	fmt.Fprintf(w, "GET %s, C = %.0f req/s (median of the rounds), client deadline %.0f ms, pinned %v, load average %s; medians over %d rounds, counts summed\n",
		r.Path, r.Capacity, r.DeadlineMs, r.Pinned, r.LoadAverage, len(r.Rounds)/max(len(r.Levels), 1))
	fmt.Fprintf(w, "%-10s %5s %8s %8s %8s %8s %8s %8s %8s %8s %8s %6s\n",
		"target", "xC", "goodput", "/C", "ok p99", "refused", "ref p99", "timeouts", "errors", "livez", "drain s", "limit")
	for _, l := range r.Levels {
		fmt.Fprintf(w, "%-10s %5.1f %8.0f %8.2f %8.1f %8d %8.1f %8d %8d %8.0f %8.1f %6d\n",
			l.Target, l.Multiple, l.Goodput, l.GoodputC, l.OKP99ms, l.Refused, l.RefP99ms, l.Timeouts, l.Errors, l.LivezMax, l.DrainSeconds, l.Limit)
	}
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// build compiles the catalog package with catalog_overload.go as its main.
func build(ctx context.Context, dir string) (string, error) {
	src, err := bin.PackageDir(ctx, catalogPkg)
	if err != nil {
		return "", err
	}
	file := filepath.Join(dir, "catalog_overload.go")
	if err := os.WriteFile(file, bytes.TrimPrefix(twinMain, []byte("//go:build ignore\n")), 0o600); err != nil {
		return "", err
	}
	return bin.Build(ctx, dir, "catalog-overload", catalogPkg, map[string]string{filepath.Join(src, "main.go"): file})
}

// server is one running target.
type server struct {
	name, addr, admin string
	pid               int
	stop              func()
}

// cpuTicks is the CPU time pid has used, in clock ticks (utime + stime of
// /proc/PID/stat), -1 if it cannot be read.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return u + st
}

// drain waits until srv has used at most 2 ticks (about 8% of a CPU) in
// 250 ms, at most limit, and returns how long that took: a server still
// digesting the queue of a spike would take the CPU they share from the
// next target measured, and its time to drain is part of its recovery.
func drain(srv *server, limit time.Duration) time.Duration {
	start := time.Now()
	prev := cpuTicks(srv.pid)
	for time.Since(start) < limit {
		time.Sleep(250 * time.Millisecond)
		now := cpuTicks(srv.pid)
		if prev < 0 || now < 0 || now-prev <= 2 {
			break
		}
		prev = now
	}
	return time.Since(start)
}

// onCPU runs cmd under taskset on cpu, when pinning, and in a session
// of its own with -priority.
func (s settings) onCPU(cpu int, cmd *exec.Cmd) *exec.Cmd {
	if s.nice != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	return bin.OnCPU(s.pin, cpu, cmd)
}

// startCmd starts cmd and, with -priority, sets the niceness of its
// session's autogroup: Linux shares a CPU between sessions (autogroups)
// first and between processes by niceness only within one, so on a
// machine shared with other sessions a process's own niceness does not
// give it its core, and the autogroup's does.
func (s settings) startCmd(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	if s.nice == 0 {
		return nil
	}
	err := os.WriteFile(fmt.Sprintf("/proc/%d/autogroup", cmd.Process.Pid), []byte(strconv.Itoa(s.nice)), 0)
	if err != nil {
		bin.Stop(cmd)
		return fmt.Errorf("-priority: %w", err)
	}
	return nil
}

// start runs the target with its stdout a pipe drained by a cat, as a
// container runtime reads it, and waits for its /livez.
func (s settings) start(name, path string) (*server, error) {
	addr, err := bin.FreeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := bin.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd := s.onCPU(s.serverCPU, bin.Command(path, bin.Env("HTTP_ADDR="+addr, "ADMIN_ADDR="+admin, "SHEDDER="+name)))
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	drain := s.onCPU(s.genCPU, exec.Command("cat")) // #nosec G204 -- fixed tool
	drain.Stdin = pr
	cmd.Stdout = pw
	cmd.Stderr = pw // go-zero logs every drop there
	if err := s.startCmd(drain); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	err = s.startCmd(cmd)
	pr.Close()
	pw.Close()
	if err != nil {
		bin.Stop(drain)
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	srv := &server{name: name, addr: addr, admin: admin, pid: cmd.Process.Pid, stop: func() {
		bin.Stop(cmd)
		bin.StopWith(drain, os.Interrupt, 5*time.Second)
	}}
	if _, err := bin.WaitOK("http://"+admin+"/livez", 10*time.Millisecond, 10*time.Second); err != nil {
		srv.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return srv, nil
}

// drive runs one level against srv in a generator process of its own, on
// the generator's CPU.
func (s settings) drive(srv *server, rate float64) (results.Level, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.dur+30*time.Second)
	defer cancel()
	cmd := s.onCPU(s.genCPU, exec.CommandContext(ctx, s.self, "drive", "-addr", srv.addr, "-admin", srv.admin, // #nosec G204 -- this binary
		"-path", s.path, "-rate", strconv.FormatFloat(rate, 'f', 1, 64), "-d", s.dur.String(),
		"-deadline", s.dl.String(), "-max-conns", strconv.Itoa(s.maxConns)))
	cmd.Stderr = os.Stderr
	var b bytes.Buffer
	cmd.Stdout = &b
	if err := s.startCmd(cmd); err != nil {
		return results.Level{}, fmt.Errorf("drive: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return results.Level{}, fmt.Errorf("drive: %w", err)
	}
	var lv results.Level
	return lv, json.Unmarshal(b.Bytes(), &lv)
}

// driveCmd is "overload drive": one open-loop level, its figures as JSON.
func driveCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("overload drive", flag.ContinueOnError)
	addr := fs.String("addr", "", "host:port of the traffic port")
	admin := fs.String("admin", "", "host:port of the admin port")
	path := fs.String("path", "/", "URL path")
	rate := fs.Float64("rate", 100, "arrivals per second")
	d := fs.Duration("d", time.Second, "how long")
	dl := fs.Duration("deadline", time.Second, "client deadline")
	maxConns := fs.Int("max-conns", 4000, "connections at most")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *admin == "" || *rate <= 0 || *d <= 0 || *d > time.Minute {
		return errors.New("drive: need -addr, -admin, -rate > 0, 0 < -d <= 1m")
	}
	lv, err := openLoop(*addr, *admin, *path, *rate, *d, *dl, *maxConns)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(lv)
}

var (
	limitLine   = regexp.MustCompile(`(?m)^server_admission_limit ([0-9.e+]+)$`)
	refusalLine = regexp.MustCompile(`(?m)^server_admission_refusals_total\{reason="(\w+)"\} ([0-9.e+]+)$`)
)

// scrape reads server_admission_limit and the refusals by reason so far
// from the admin port; zero values if it cannot.
func scrape(admin string) (int, map[string]int) {
	res, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	limit := 0
	if m := limitLine.FindSubmatch(b); m != nil {
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		limit = int(f)
	}
	refusals := map[string]int{}
	for _, m := range refusalLine.FindAllSubmatch(b, -1) {
		f, _ := strconv.ParseFloat(string(m[2]), 64)
		refusals[string(m[1])] = int(f)
	}
	return limit, refusals
}
