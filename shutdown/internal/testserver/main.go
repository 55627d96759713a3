// Command testserver is the child process of the shutdown package's
// process tests: a real service wired with a shutdown.Manager, so the tests
// can send it real signals and watch its exit status.
//
// It prints its address on stdout once it serves, and logs the Manager's
// steps as JSON on stderr. Routes: /fast answers at once, /slow?d=1s after
// d, /hold?d=1s after d or, when the shutdown's budget ends it first, a
// 503, /readyz is 503 from the moment shutdown begins, /inflight counts the
// slow and held requests in progress, /print writes a line to stdout and answers
// with the write's error. After Wait it writes a last line to stdout, as
// a main logging its exit would.
//
// With -grpc hold or -grpc end it also serves gRPC (grpc-go's own health
// service, whose Watch stays open) through ServeGRPC on a second port,
// printed as "grpc=ADDR" on stdout after the first line: "hold" serves a
// bare *grpc.Server, whose GracefulStop waits for open streams; "end" one
// whose GracefulStop first ends them, as grpcx.Server's does.
//
//	testserver -drain 300ms -timeout 5s [-stuck] [-nosignals] [-grpc hold|end]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prodready/prodready/shutdown"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	drain := flag.Duration("drain", 300*time.Millisecond, "drain delay")
	timeout := flag.Duration("timeout", 5*time.Second, "shutdown budget")
	stuck := flag.Bool("stuck", false, "add a hook that ignores its context and never returns")
	noSignals := flag.Bool("nosignals", false, "shutdown.Signals(): the Manager handles no signal (SIGPIPE included); SIGTERM ends the process")
	grpcMode := flag.String("grpc", "", "also serve gRPC: hold (a bare *grpc.Server) or end (streams ended at GracefulStop)")
	flag.Parse()

	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	opts := []shutdown.Option{shutdown.DrainDelay(*drain), shutdown.Timeout(*timeout), shutdown.Logger(logger)}
	if *noSignals {
		opts = append(opts, shutdown.Signals())
	}
	sd := shutdown.New(opts...)

	var draining atomic.Bool
	var inflight atomic.Int64
	sd.OnDrain(func() { draining.Store(true) })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(d)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// #nosec G705 -- d is a parsed time.Duration in canonical form, sent as text/plain
		_, _ = io.WriteString(w, "done after "+d.String())
	})
	mux.HandleFunc("GET /hold", func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			// #nosec G705 -- d is a parsed time.Duration in canonical form, sent as text/plain
			_, _ = io.WriteString(w, "done after "+d.String())
		case <-r.Context().Done():
			if errors.Is(context.Cause(r.Context()), shutdown.ErrBudget) {
				http.Error(w, "shutting down, retry", http.StatusServiceUnavailable)
			}
		}
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready")
	})
	mux.HandleFunc("GET /print", func(w http.ResponseWriter, _ *http.Request) {
		_, err := fmt.Println("a line for a log reader")
		_, _ = fmt.Fprint(w, "stdout: ", err)
	})
	mux.HandleFunc("GET /inflight", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strconv.FormatInt(inflight.Load(), 10))
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sd.Serve(&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln)
	sd.Add("flush", func(context.Context) error { return nil })
	if *stuck {
		sd.Add("stuck", func(context.Context) error {
			logger.Info("stuck hook started")
			time.Sleep(time.Hour) // ignores its context, as a hung close would
			return nil
		})
	}
	fmt.Println(ln.Addr())
	if *grpcMode != "" {
		addr, err := serveGRPC(sd, *grpcMode)
		if err != nil {
			return err
		}
		fmt.Println("grpc=" + addr)
	}
	err = sd.Wait()
	_, _ = fmt.Println("exiting") // to a stdout that may be closed by now
	return err
}
