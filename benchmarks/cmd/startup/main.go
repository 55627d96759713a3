// Command startup measures how long the catalog example takes from exec
// to its first 200 on /livez (the admin port), beside the same for a bare
// net/http hello world (the floor), both built as binaries first.
//
//	go run ./benchmarks/cmd/startup                 # median of 20 starts each
//	go run ./benchmarks/cmd/startup -json out.json  # also write the figures
//
// Starts alternate between the two so that a noisy neighbour hits both.
// Each start gets fresh loopback ports and is polled every -poll; the
// process is killed once it has answered.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/prodready/prodready/benchmarks/cmd/internal/bin"
	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("startup", flag.ContinueOnError)
	n := fs.Int("n", 20, "starts of each binary")
	poll := fs.Duration("poll", 250*time.Microsecond, "time between two probes of /livez")
	jsonOut := fs.String("json", "", "write the figures to this file as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *n > 1000 {
		return errors.New("need 1 <= -n <= 1000")
	}
	dir, err := os.MkdirTemp("", "prodready-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	catalog, err := bin.Build(ctx, dir, "catalog", "github.com/prodready/prodready/examples/catalog", nil)
	if err != nil {
		return err
	}
	hello, err := bin.Build(ctx, dir, "hello", "github.com/prodready/prodready/benchmarks/cmd/startup/hello", nil)
	if err != nil {
		return err
	}
	res := results.Startup{Starts: *n}
	for range *n {
		ms, err := timeStart(hello, *poll)
		if err != nil {
			return fmt.Errorf("hello: %w", err)
		}
		res.FloorRuns = append(res.FloorRuns, ms)
		if ms, err = timeStart(catalog, *poll); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		res.FullRuns = append(res.FullRuns, ms)
	}
	res.FloorMs = results.Median(slices.Clone(res.FloorRuns))
	res.FullMs = results.Median(slices.Clone(res.FullRuns))
	fmt.Fprintf(out, "exec → first 200 on /livez, median of %d starts\n\n", *n)
	fmt.Fprintf(out, "hello world (floor) %7.2f ms\ncatalog             %7.2f ms\ndifference          %+7.2f ms\n\n",
		res.FloorMs, res.FullMs, res.FullMs-res.FloorMs)
	if *jsonOut != "" {
		return results.Write(*jsonOut, res)
	}
	return nil
}

// timeStart execs path on fresh ports and returns the milliseconds until
// its /livez answered 200.
func timeStart(path string, poll time.Duration) (float64, error) {
	admin, err := bin.FreeAddr()
	if err != nil {
		return 0, err
	}
	addr, err := bin.FreeAddr()
	if err != nil {
		return 0, err
	}
	cmd := bin.Command(path, bin.Env("ADMIN_ADDR="+admin, "HTTP_ADDR="+addr))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer bin.Stop(cmd)
	ok, err := bin.WaitOK("http://"+admin+"/livez", poll, 10*time.Second)
	if err != nil {
		return 0, err
	}
	return float64(ok.Sub(start)) / float64(time.Millisecond), nil
}
