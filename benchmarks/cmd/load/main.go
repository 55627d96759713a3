// Command load measures what prodready costs a service under load: the
// catalog example as shipped (tracing, logging, metrics around its routes,
// an access line per request written to stdout, here the null device)
// against its bare twin (the same routes from the same catalog.go on a
// plain http.Server), both built as binaries and driven over loopback at a
// fixed concurrency by a Go load generator in this process.
//
//	go run ./benchmarks/cmd/load                  # 3 rounds of 4 s each, 64 connections
//	go run ./benchmarks/cmd/load -json out.json   # also write the figures
//	go run ./benchmarks/cmd/load -profile /tmp/p  # and CPU profiles of both servers:
//	go tool pprof -top -cum /tmp/p/catalog /tmp/p/full.pprof
//
// The two targets run side by side and take turns, round after round,
// each round after a warm-up, so a noisy neighbour on a shared machine hits
// both; the figures are the medians over the rounds. Everything is bounded:
// about rounds × 2 × (warm-up + duration), plus the builds.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prodready/prodready/benchmarks/cmd/internal/bin"
	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

const catalogPkg = "github.com/prodready/prodready/examples/catalog"

//go:embed catalog_bare.go
var bareMain []byte

//go:embed profile_overlay.go
var profileOverlay []byte

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// target is one running server.
type target struct {
	name   string
	addr   string
	rounds []round
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	conns := fs.Int("c", 64, "connections, each with one request in flight")
	dur := fs.Duration("d", 4*time.Second, "measured time of each round")
	warm := fs.Duration("warmup", time.Second, "unmeasured traffic before each round")
	rounds := fs.Int("rounds", 3, "rounds per target")
	path := fs.String("path", "/products/p1", "URL path to request")
	jsonOut := fs.String("json", "", "write the figures to this file as JSON")
	profDir := fs.String("profile", "", "keep both binaries in this directory and write a CPU profile of each server's run there")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conns < 1 || *rounds < 1 || *dur <= 0 || *dur > time.Minute {
		return errors.New("need -c >= 1, -rounds >= 1 and 0 < -d <= 1m")
	}

	dir, err := os.MkdirTemp("", "prodready-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
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
	full, bare, err := build(ctx, dir, binDir, profile != "")
	if err != nil {
		return err
	}

	fullT, stopFull, err := startFull(full, profile)
	if err != nil {
		return err
	}
	defer stopFull()
	bareT, stopBare, err := startBare(bare, profile)
	if err != nil {
		return err
	}
	defer stopBare()

	targets := []*target{bareT, fullT}
	for i := range *rounds {
		for _, t := range targets {
			if _, err := drive(t.addr, *path, *conns, *warm); err != nil {
				return fmt.Errorf("%s warm-up: %w", t.name, err)
			}
			r, err := drive(t.addr, *path, *conns, *dur)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", t.name, i+1, err)
			}
			fmt.Fprintf(os.Stderr, "load: round %d %-5s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d\n",
				i+1, t.name, r.rps(), results.Quantile(r.latency, 0.50), results.Quantile(r.latency, 0.99), r.errors)
			t.rounds = append(t.rounds, r)
		}
	}

	res := results.Load{
		Path: *path, Concurrency: *conns, Seconds: dur.Seconds(), Rounds: *rounds,
		Bare: summarize(bareT), Full: summarize(fullT),
	}
	report(out, res)
	if *jsonOut != "" {
		return results.Write(*jsonOut, res)
	}
	return nil
}

// build compiles into out the catalog example as shipped, and its bare
// twin: the same package with main.go replaced by catalog_bare.go; with
// profile, both with profile_overlay.go added. dir takes the sources.
func build(ctx context.Context, dir, out string, profile bool) (full, bare string, err error) {
	src, err := bin.PackageDir(ctx, catalogPkg)
	if err != nil {
		return "", "", err
	}
	fullOverlay, bareOverlay := map[string]string{}, map[string]string{}
	twin, err := writeSource(dir, "catalog_bare.go", bareMain)
	if err != nil {
		return "", "", err
	}
	bareOverlay[filepath.Join(src, "main.go")] = twin
	if profile {
		prof, err := writeSource(dir, "profile_overlay.go", profileOverlay)
		if err != nil {
			return "", "", err
		}
		fullOverlay[filepath.Join(src, "zz_profile.go")] = prof
		bareOverlay[filepath.Join(src, "zz_profile.go")] = prof
	}
	if full, err = bin.Build(ctx, out, "catalog", catalogPkg, fullOverlay); err != nil {
		return "", "", err
	}
	bare, err = bin.Build(ctx, out, "catalog-bare", catalogPkg, bareOverlay)
	return full, bare, err
}

// writeSource writes an embedded source into dir without its build
// constraint, which keeps it out of this tool, and returns its path.
func writeSource(dir, name string, code []byte) (string, error) {
	file := filepath.Join(dir, name)
	return file, os.WriteFile(file, bytes.TrimPrefix(code, []byte("//go:build ignore\n")), 0o600)
}

func startFull(path, profile string) (*target, func(), error) {
	addr, err := bin.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	admin, err := bin.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	cmd := bin.Command(path, bin.Env("HTTP_ADDR="+addr, "ADMIN_ADDR="+admin, profileEnv(profile, "full")))
	return start("full", addr, cmd, "http://"+admin+"/readyz", profile != "")
}

func startBare(path, profile string) (*target, func(), error) {
	addr, err := bin.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	cmd := bin.Command(path, bin.Env("HTTP_ADDR="+addr, profileEnv(profile, "bare")))
	return start("bare", addr, cmd, "http://"+addr+"/products", profile != "")
}

// profileEnv names the file profile_overlay.go writes, "" for none.
func profileEnv(dir, name string) string {
	if dir == "" {
		return "LOAD_CPUPROFILE="
	}
	return "LOAD_CPUPROFILE=" + filepath.Join(dir, name+".pprof")
}

// start runs cmd and waits until ready answers 200 on both it and the
// traffic port. With profiled, stopping asks for the profile first.
func start(name, addr string, cmd *exec.Cmd, ready string, profiled bool) (*target, func(), error) {
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	stop := func() { bin.Stop(cmd) }
	if profiled {
		stop = func() { bin.StopWith(cmd, syscall.SIGUSR2, 5*time.Second) }
	}
	for _, url := range []string{ready, "http://" + addr + "/products"} {
		if _, err := bin.WaitOK(url, 10*time.Millisecond, 10*time.Second); err != nil {
			stop()
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return &target{name: name, addr: addr}, stop, nil
}

// summarize takes the median of each figure over the rounds.
func summarize(t *target) results.Traffic {
	var s results.Traffic
	var rps, p50, p99 []float64
	for _, r := range t.rounds {
		rps = append(rps, r.rps())
		p50 = append(p50, results.Quantile(r.latency, 0.50))
		p99 = append(p99, results.Quantile(r.latency, 0.99))
		s.Requests += r.requests
		s.Errors += r.errors
	}
	s.RPS, s.P50ms, s.P99ms = results.Median(rps), results.Median(p50), results.Median(p99)
	return s
}

func report(w io.Writer, r results.Load) {
	fmt.Fprintf(w, "GET %s, %d connections, %d rounds of %.0fs each (medians)\n\n", r.Path, r.Concurrency, r.Rounds, r.Seconds)
	fmt.Fprintf(w, "%-6s %10s %9s %9s %9s\n", "", "req/s", "p50 ms", "p99 ms", "errors")
	for _, row := range []struct {
		name string
		t    results.Traffic
	}{{"bare", r.Bare}, {"full", r.Full}} {
		fmt.Fprintf(w, "%-6s %10.0f %9.2f %9.2f %9d\n", row.name, row.t.RPS, row.t.P50ms, row.t.P99ms, row.t.Errors)
	}
	fmt.Fprintf(w, "\nfull/bare: req/s %.1f%%, p50 %.2fx, p99 %.2fx\n\n",
		100*r.Full.RPS/r.Bare.RPS, r.Full.P50ms/r.Bare.P50ms, r.Full.P99ms/r.Bare.P99ms)
}
