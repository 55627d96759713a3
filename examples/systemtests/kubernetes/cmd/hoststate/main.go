// Command hoststate is scripts/kubernetes' record of the host: it takes a
// picture of the host before the cluster starts, refuses to let one start
// on a previous cluster's leftovers, removes them after tear-down, and
// compares the host with the picture.
//
//	hoststate leftovers -state DIR -bin DIR -bridge NAME        # exit 1 and why, when there are
//	hoststate record    -state DIR -bin DIR -bridge NAME FILE   # the picture, as JSON
//	hoststate restore   -state DIR -bin DIR -bridge NAME FILE   # undo what the cluster left
//	hoststate compare   -state DIR -bin DIR -bridge NAME FILE   # exit 1 and the differences
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prodready/prodready/examples/systemtests/kubernetes"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hoststate:", err)
		os.Exit(1)
	}
}

// errDiffers and errLeftovers say the host is not as wanted; what differs
// is already printed.
var (
	errDiffers   = errors.New("the host is not as recorded")
	errLeftovers = errors.New("leftovers of a previous cluster")
)

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: hoststate leftovers|record|restore|compare -state DIR -bin DIR -bridge NAME [FILE]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	var h kubernetes.Host
	fs.StringVar(&h.StateDir, "state", "", "the cluster's runtime directory")
	fs.StringVar(&h.BinDir, "bin", "", "the directory of the cluster's binaries")
	fs.StringVar(&h.Bridge, "bridge", "", "the pods' bridge")
	attempts := fs.Int("attempts", 3, "compare: how many pictures to take before giving up (others' containers come and go)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	file := fs.Arg(0)
	switch args[0] {
	case "leftovers":
		s, err := kubernetes.Record(ctx, h)
		if err != nil {
			return err
		}
		if found := kubernetes.Leftovers(s, h); len(found) > 0 {
			fmt.Println("a previous cluster's state is still on this host:")
			for _, f := range found {
				fmt.Println("  " + f)
			}
			return errLeftovers
		}
		return nil
	case "record":
		s, err := kubernetes.Record(ctx, h)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(file, append(b, '\n'), 0o600) // #nosec G703 -- the record the script names
	case "restore":
		before, err := read(file)
		if err != nil {
			return err
		}
		done, err := kubernetes.Restore(ctx, h, before)
		for _, d := range done {
			fmt.Println("  " + d)
		}
		return err
	case "compare":
		before, err := read(file)
		if err != nil {
			return err
		}
		var changes []kubernetes.Change
		for i := range *attempts {
			if i > 0 {
				time.Sleep(3 * time.Second)
			}
			after, err := kubernetes.Record(ctx, h)
			if err != nil {
				return err
			}
			if changes = kubernetes.Compare(before, after); len(changes) == 0 {
				n := 0
				for _, lines := range before {
					n += len(lines)
				}
				fmt.Printf("the host state equals the record taken before the cluster started (%d sections, %d lines: %s)\n",
					len(before), n, sections(before))
				return nil
			}
		}
		fmt.Println("the host state differs from the record taken before the cluster started (- before only, + now only):")
		for _, c := range changes {
			fmt.Println("  " + c.String())
		}
		return errDiffers
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func read(file string) (kubernetes.State, error) {
	b, err := os.ReadFile(file) // #nosec G304 G703 -- the record the script names
	if err != nil {
		return nil, err
	}
	var s kubernetes.State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

func sections(s kubernetes.State) string {
	names := make([]string, 0, len(s))
	for k := range s {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
