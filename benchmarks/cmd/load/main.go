// Command load measures what prodready costs a service under load, and
// what the stack a team would build instead costs: three twins of the
// catalog example, built as binaries from the same catalog.go routes and
// driven over loopback at a fixed concurrency.
//
//	bare       the routes on a plain http.Server (catalog_bare.go)
//	prodready  the catalog example as shipped: tracing, logging with an
//	           access line per request on stdout, metrics
//	anchors    the routes under otelhttp, chi's RequestID with a zap access
//	           line on stdout, and promhttp's chain (catalog_anchors.go)
//
// Two generators drive each: ours ("prodready-load", raw TCP, this binary
// run as "load drive") and wrk, from Debian's package. With two or more
// CPUs and taskset, every server runs on -server-cpu alone (so its
// GOMAXPROCS is 1) and the generators and the log drains on
// -generator-cpu, so a generator cannot steal the server's core. Each
// server's stdout is a pipe drained by a separate process (cat, to the
// null device), which is what a container's log shim makes of it.
//
//	go run ./benchmarks/cmd/load                  # 3 rounds of 4 s, 64 connections, both generators
//	go run ./benchmarks/cmd/load -json out.json   # also write the figures
//	go run ./benchmarks/cmd/load -profile /tmp/p  # and a CPU profile of each server's run:
//	go tool pprof -top -cum /tmp/p/catalog /tmp/p/prodready.pprof
//
// The targets take turns, round after round and generator after
// generator, each round after a warm-up, so a noisy neighbour hits all
// three; the figures are the medians over the rounds. Everything is
// bounded: about rounds × generators × 3 × (warm-up + duration), plus the
// builds.
//
// The anchors twin imports package anchors (and with it chi, otelhttp and
// promhttp) into the examples module's package through the workspace:
// go.work lists benchmarks/, so examples/go.mod never lists them.
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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prodready/prodready/benchmarks/cmd/internal/bin"
	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

const catalogPkg = "github.com/prodready/prodready/examples/catalog"

//go:embed catalog_bare.go
var bareMain []byte

//go:embed catalog_anchors.go
var anchorsMain []byte

//go:embed profile_overlay.go
var profileOverlay []byte

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "drive" {
		err = driveCmd(os.Args[2:], os.Stdout)
	} else {
		err = run(context.Background(), os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// target is one running server.
type target struct {
	name   string
	addr   string
	cpus   string                     // Cpus_allowed_list of the server process
	stdout string                     // what its fd 1 is, "pipe:[…]" when drained
	rounds map[string][]results.Round // by generator
}

// generator drives one target for one round.
type generator interface {
	name() string
	command(addr, path string, conns int, d time.Duration) string
	run(ctx context.Context, addr, path string, conns int, d time.Duration) (results.Round, error)
}

type settings struct {
	conns, rounds int
	dur, warm     time.Duration
	path          string
	pin           bool
	serverCPU     int
	genCPU        int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var s settings
	fs.IntVar(&s.conns, "c", 64, "connections, each with one request in flight")
	fs.DurationVar(&s.dur, "d", 4*time.Second, "measured time of each round")
	fs.DurationVar(&s.warm, "warmup", time.Second, "unmeasured traffic before each round")
	fs.IntVar(&s.rounds, "rounds", 3, "rounds per target and generator")
	fs.StringVar(&s.path, "path", "/products/p1", "URL path to request")
	gens := fs.String("generators", "ours,wrk", "load generators, comma-separated: ours, wrk")
	fs.IntVar(&s.serverCPU, "server-cpu", 0, "the CPU the servers run on")
	fs.IntVar(&s.genCPU, "generator-cpu", 1, "the CPU the generators and log drains run on")
	pin := fs.String("pin", "auto", "pin with taskset: auto (when there are 2 CPUs or more and taskset), true, false")
	jsonOut := fs.String("json", "", "write the figures to this file as JSON")
	profDir := fs.String("profile", "", "keep the binaries in this directory and write a CPU profile of each server's run there")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.conns < 1 || s.rounds < 1 || s.dur <= 0 || s.dur > time.Minute || s.warm < 0 || s.warm > time.Minute {
		return errors.New("need -c >= 1, -rounds >= 1, 0 < -d <= 1m and 0 <= -warmup <= 1m")
	}
	var err error
	if s.pin, err = bin.Pin(*pin, s.serverCPU, s.genCPU); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "prodready-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var generators []generator
	for _, g := range strings.Split(*gens, ",") {
		switch strings.TrimSpace(g) {
		case "ours":
			self, err := os.Executable()
			if err != nil {
				return err
			}
			generators = append(generators, &oursGen{self: self, pin: s.onGenCPU})
		case "wrk":
			w, err := newWrk(dir, s.onGenCPU)
			if err != nil {
				return err
			}
			generators = append(generators, w)
		default:
			return fmt.Errorf("-generators: unknown %q (want ours, wrk)", g)
		}
	}

	binDir, profile := dir, ""
	if *profDir != "" {
		binDir = *profDir
		if profile, err = filepath.Abs(*profDir); err != nil {
			return err
		}
		if err := os.MkdirAll(profile, 0o750); err != nil {
			return err
		}
	}
	bins, err := build(ctx, dir, binDir, profile != "")
	if err != nil {
		return err
	}

	var targets []*target
	for _, name := range []string{"bare", "prodready", "anchors"} {
		t, stop, err := s.start(name, bins[name], profile)
		if err != nil {
			return err
		}
		defer stop()
		targets = append(targets, t)
	}

	for i := range s.rounds {
		for _, g := range generators {
			for _, t := range targets {
				if s.warm > 0 {
					if _, err := g.run(ctx, t.addr, s.path, s.conns, s.warm); err != nil {
						return fmt.Errorf("%s warm-up with %s: %w", t.name, g.name(), err)
					}
				}
				r, err := g.run(ctx, t.addr, s.path, s.conns, s.dur)
				if err != nil {
					return fmt.Errorf("%s round %d with %s: %w", t.name, i+1, g.name(), err)
				}
				fmt.Fprintf(os.Stderr, "load: round %d %-14s %-9s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d\n",
					i+1, g.name(), t.name, r.RPS(), r.P50ms, r.P99ms, r.Errors)
				t.rounds[g.name()] = append(t.rounds[g.name()], r)
			}
		}
	}

	res := results.Load{Commit: results.Commit(),
		Path: s.path, Concurrency: s.conns, Seconds: s.dur.Seconds(), Rounds: s.rounds,
		Pinned: s.pin, ServerCPU: s.serverCPU, GeneratorCPU: s.genCPU, StdoutPipe: true,
	}
	for _, t := range targets {
		// What the kernel says, not what was asked for.
		if s.pin && t.cpus != strconv.Itoa(s.serverCPU) {
			res.Pinned = false
		}
		if !strings.HasPrefix(t.stdout, "pipe:") {
			res.StdoutPipe = false
		}
	}
	for _, g := range generators {
		res.Generators = append(res.Generators, results.Generator{
			Name:      g.name(),
			Command:   g.command("127.0.0.1:PORT", s.path, s.conns, s.dur),
			Bare:      summarize(targets[0].rounds[g.name()]),
			Prodready: summarize(targets[1].rounds[g.name()]),
			Anchors:   summarize(targets[2].rounds[g.name()]),
		})
	}
	report(out, res)
	if *jsonOut != "" {
		return results.Write(*jsonOut, res)
	}
	return nil
}

// onCPU runs cmd under taskset on cpu, when pinning.
func (s settings) onCPU(cpu int, cmd *exec.Cmd) *exec.Cmd { return bin.OnCPU(s.pin, cpu, cmd) }

func (s settings) onGenCPU(cmd *exec.Cmd) *exec.Cmd { return s.onCPU(s.genCPU, cmd) }

// build compiles into out the catalog example as shipped and its two
// twins: the same package with main.go replaced by catalog_bare.go or
// catalog_anchors.go; with profile, each with profile_overlay.go added.
// dir takes the sources.
func build(ctx context.Context, dir, out string, profile bool) (map[string]string, error) {
	src, err := bin.PackageDir(ctx, catalogPkg)
	if err != nil {
		return nil, err
	}
	mains := map[string][]byte{"bare": bareMain, "anchors": anchorsMain}
	bins := map[string]string{}
	for _, name := range []string{"prodready", "bare", "anchors"} {
		overlay := map[string]string{}
		if code, ok := mains[name]; ok {
			file, err := writeSource(dir, "catalog_"+name+".go", code)
			if err != nil {
				return nil, err
			}
			overlay[filepath.Join(src, "main.go")] = file
		}
		if profile {
			file, err := writeSource(dir, "profile_overlay.go", profileOverlay)
			if err != nil {
				return nil, err
			}
			overlay[filepath.Join(src, "zz_profile.go")] = file
		}
		binName := "catalog"
		if name != "prodready" {
			binName += "-" + name
		}
		if bins[name], err = bin.Build(ctx, out, binName, catalogPkg, overlay); err != nil {
			return nil, err
		}
	}
	return bins, nil
}

// writeSource writes an embedded source into dir without its build
// constraint, which keeps it out of this tool, and returns its path.
func writeSource(dir, name string, code []byte) (string, error) {
	file := filepath.Join(dir, name)
	return file, os.WriteFile(file, bytes.TrimPrefix(code, []byte("//go:build ignore\n")), 0o600)
}

// start runs the named twin on its CPU with its stdout a pipe to a cat of
// its own, and waits until it answers 200 on the traffic port (and, for
// the twins that have one, on the admin port's /readyz). With profile,
// stopping asks for the profile first.
func (s settings) start(name, path, profile string) (*target, func(), error) {
	addr, err := bin.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	env := []string{"HTTP_ADDR=" + addr, profileEnv(profile, name)}
	ready := []string{"http://" + addr + "/products"}
	if name != "bare" {
		admin, err := bin.FreeAddr()
		if err != nil {
			return nil, nil, err
		}
		env = append(env, "ADMIN_ADDR="+admin)
		ready = append([]string{"http://" + admin + "/readyz"}, ready...)
	}
	cmd := s.onCPU(s.serverCPU, bin.Command(path, bin.Env(env...)))

	// stdout is a pipe, as a container runtime makes it; a cat of its own
	// drains it to the null device (os/exec's nil Stdout).
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	drain := s.onGenCPU(exec.Command("cat")) // #nosec G204 -- fixed tool
	drain.Stdin = pr
	cmd.Stdout = pw
	if err := drain.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, nil, fmt.Errorf("start the log drain of %s: %w", name, err)
	}
	err = cmd.Start()
	pr.Close()
	pw.Close() // the server holds the write end now; its exit ends cat
	if err != nil {
		bin.Stop(drain)
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	stop := func() {
		if profile != "" {
			bin.StopWith(cmd, syscall.SIGUSR2, 5*time.Second)
		} else {
			bin.Stop(cmd)
		}
		bin.StopWith(drain, syscall.SIGTERM, 5*time.Second)
	}
	for _, url := range ready {
		if _, err := bin.WaitOK(url, 10*time.Millisecond, 10*time.Second); err != nil {
			stop()
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	t := &target{name: name, addr: addr, rounds: map[string][]results.Round{}}
	t.cpus, t.stdout = procFacts(cmd.Process.Pid)
	fmt.Fprintf(os.Stderr, "load: %-9s pid %d on CPUs %s, stdout %s\n", name, cmd.Process.Pid, t.cpus, t.stdout)
	return t, stop, nil
}

// procFacts reads from /proc which CPUs pid may run on and what its
// stdout is; "?" for what it cannot read.
func procFacts(pid int) (cpus, stdout string) {
	cpus, stdout = "?", "?"
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				cpus = strings.TrimSpace(v)
			}
		}
	}
	if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/1", pid)); err == nil {
		stdout = l
	}
	return cpus, stdout
}

// profileEnv names the file profile_overlay.go writes, "" for none.
func profileEnv(dir, name string) string {
	if dir == "" {
		return "LOAD_CPUPROFILE="
	}
	return "LOAD_CPUPROFILE=" + filepath.Join(dir, name+".pprof")
}

// summarize takes the median of each figure over the rounds.
func summarize(rounds []results.Round) results.Traffic {
	var s results.Traffic
	var p50 []float64
	for _, r := range rounds {
		s.RoundsRPS = append(s.RoundsRPS, r.RPS())
		s.RoundsP99ms = append(s.RoundsP99ms, r.P99ms)
		p50 = append(p50, r.P50ms)
		s.Requests += r.Requests
		s.Errors += r.Errors
	}
	s.RPS, s.P50ms, s.P99ms = results.Median(s.RoundsRPS), results.Median(p50), results.Median(s.RoundsP99ms)
	return s
}

func report(w io.Writer, r results.Load) {
	fmt.Fprintf(w, "GET %s, %d connections, %d rounds of %.0fs each (medians); pinned %v (server CPU %d, generators CPU %d), stdout a pipe %v\n",
		r.Path, r.Concurrency, r.Rounds, r.Seconds, r.Pinned, r.ServerCPU, r.GeneratorCPU, r.StdoutPipe)
	for _, g := range r.Generators {
		fmt.Fprintf(w, "\n%s: %s\n", g.Name, g.Command)
		fmt.Fprintf(w, "%-10s %10s %9s %9s %9s\n", "", "req/s", "p50 ms", "p99 ms", "errors")
		for _, row := range []struct {
			name string
			t    results.Traffic
		}{{"bare", g.Bare}, {"prodready", g.Prodready}, {"anchors", g.Anchors}} {
			fmt.Fprintf(w, "%-10s %10.0f %9.2f %9.2f %9d\n", row.name, row.t.RPS, row.t.P50ms, row.t.P99ms, row.t.Errors)
		}
		fmt.Fprintf(w, "prodready/bare: req/s %.2f, p99 %.2fx; prodready/anchors: req/s %.2f\n",
			g.Prodready.RPS/g.Bare.RPS, g.Prodready.P99ms/g.Bare.P99ms, g.Prodready.RPS/g.Anchors.RPS)
	}
	fmt.Fprintln(w)
}

// oursGen is drive, run as "load drive" in a process of its own so that
// it can be pinned to the generator's CPU.
type oursGen struct {
	self string
	pin  func(*exec.Cmd) *exec.Cmd
}

func (g *oursGen) name() string { return "prodready-load" }

func (g *oursGen) args(addr, path string, conns int, d time.Duration) []string {
	return []string{"drive", "-addr", addr, "-path", path, "-c", strconv.Itoa(conns), "-d", d.String()}
}

func (g *oursGen) command(addr, path string, conns int, d time.Duration) string {
	return "load " + strings.Join(g.args(addr, path, conns, d), " ")
}

func (g *oursGen) run(ctx context.Context, addr, path string, conns int, d time.Duration) (results.Round, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := g.pin(exec.CommandContext(ctx, g.self, g.args(addr, path, conns, d)...)) // #nosec G204 -- this binary
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return results.Round{}, fmt.Errorf("load drive: %w", err)
	}
	var r results.Round
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("load drive printed %q: %w", out, err)
	}
	return r, nil
}

// driveCmd is "load drive": one round of drive, its figures as JSON.
func driveCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load drive", flag.ContinueOnError)
	addr := fs.String("addr", "", "host:port to drive")
	path := fs.String("path", "/", "URL path to request")
	conns := fs.Int("c", 64, "connections")
	d := fs.Duration("d", time.Second, "how long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *conns < 1 || *d <= 0 || *d > time.Minute {
		return errors.New("drive: need -addr, -c >= 1 and 0 < -d <= 1m")
	}
	r, err := drive(*addr, *path, *conns, *d)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(r.figures())
}
