package shutdown

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/prodready/prodready/internal/testenv"
)

func TestMain(m *testing.M) {
	// os/signal starts its one watcher goroutine on first use. Start it
	// here, outside any synctest bubble: a goroutine started inside a
	// bubble belongs to it and would outlive it.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	signal.Stop(c)
	goleak.VerifyTestMain(m, goleak.Cleanup(cleanupChild))
}

// fakeOS replaces signal.Notify, signal.Stop and os.Exit, so that tests
// deliver signals into a Manager from inside a synctest bubble and see
// what it would have done to the process.
type fakeOS struct {
	mu    sync.Mutex
	calls []notified // every Notify call, in order
	stops int
	exits []int
}

type notified struct {
	ch   chan<- os.Signal
	sigs []os.Signal
}

func (f *fakeOS) option() Option {
	return optionFunc(func(c *config) {
		c.notify = func(ch chan<- os.Signal, sigs ...os.Signal) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, notified{ch, sigs})
		}
		c.stop = func(chan<- os.Signal) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.stops++
		}
		c.exit = func(code int) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.exits = append(f.exits, code)
		}
	})
}

// send delivers sig the way os/signal does: only when the Manager
// listens to it, and never blocking.
func (f *fakeOS) send(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := f.deliver(sig); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeOS) deliver(sig os.Signal) error {
	f.mu.Lock()
	calls := slices.Clone(f.calls)
	f.mu.Unlock()
	for _, n := range calls {
		if slices.Contains(n.sigs, sig) {
			select {
			case n.ch <- sig:
				return nil
			default:
				return fmt.Errorf("signal %v dropped: channel full", sig)
			}
		}
	}
	return fmt.Errorf("the Manager does not listen to %v (it asked for %v)", sig, f.asked())
}

// asked returns every signal the Manager asked for, in order.
func (f *fakeOS) asked() []os.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sigs []os.Signal
	for _, n := range f.calls {
		sigs = append(sigs, n.sigs...)
	}
	return sigs
}

func (f *fakeOS) state() (stops int, exits []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stops, append([]int(nil), f.exits...)
}

func quiet() Option { return Logger(slog.New(slog.DiscardHandler)) }

// recorder keeps what happened and when, relative to its start, as lines
// easy to compare with an expected list.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	lines []string
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf("%v ", time.Since(r.start))+fmt.Sprintf(format, args...))
}

func (r *recorder) event(ev Event) {
	switch ev.Step {
	case Began, SecondSignal:
		r.add("%v: %v", ev.Step, ev.Cause)
	case Draining, Stopped, WorkersStopped, Finished:
		r.add("%v %v err=%v", ev.Step, ev.Duration, ev.Err != nil)
	default:
		r.add("%v %s", ev.Step, ev.Name)
	}
}

func (r *recorder) observe() Option { return OnEvent(r.event) }

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

func equalLines(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) == fmt.Sprint(want) {
		return
	}
	t.Errorf("got %d lines:", len(got))
	for _, l := range got {
		t.Errorf("  %s", l)
	}
	t.Errorf("want %d lines:", len(want))
	for _, l := range want {
		t.Errorf("  %s", l)
	}
}

// pipeNet is testenv.PipeNet with the client side a test needs: a
// transport that dials it and a count of those dials.
type pipeNet struct {
	*testenv.PipeNet
	tr    *http.Transport
	dials atomic.Int32
}

func newPipeNet(t *testing.T) *pipeNet {
	p := &pipeNet{PipeNet: testenv.NewPipeNet()}
	p.tr = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		p.dials.Add(1)
		return p.Dial(ctx, network, addr)
	}}
	t.Cleanup(p.tr.CloseIdleConnections)
	return p
}

// get fetches path and returns the body, whether the server asked to close
// the connection, and the error.
func (p *pipeNet) get(path string) (body string, closing bool, err error) {
	resp, err := (&http.Client{Transport: p.tr}).Get("http://pipe" + path)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), resp.Close, err
}

var _ net.Listener = (*pipeNet)(nil)

// testServer answers /fast at once and /slow?d=3s after the duration.
func testServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
			_, _ = io.WriteString(w, "done after "+d.String())
		case <-r.Context().Done(): // the connection was closed, or the budget ended the request
			if errors.Is(context.Cause(r.Context()), ErrBudget) {
				http.Error(w, "shutting down", http.StatusServiceUnavailable)
			}
		}
	})
	mux.HandleFunc("/stubborn", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d) // ignores its context
		_, _ = io.WriteString(w, "done after "+d.String())
	})
	return &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
}

// failingListener fails its first Accept, as a listener that cannot serve.
type failingListener struct{ err error }

func (l failingListener) Accept() (net.Conn, error) { return nil, l.err }

func (l failingListener) Close() error { return nil }

func (l failingListener) Addr() net.Addr { return &net.UnixAddr{Name: "failing", Net: "unix"} }

var errAccept = errors.New("accept: too many open files")

// child is the test server of the process tests, built once per run of
// the test binary and removed by TestMain.
var child struct {
	once sync.Once
	dir  string
	path string
	err  error
	noGo bool
}

func buildChild(t *testing.T) string {
	t.Helper()
	child.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			child.noGo, child.err = true, err
			return
		}
		child.dir, child.err = os.MkdirTemp("", "shutdown-testserver-")
		if child.err != nil {
			return
		}
		child.path = filepath.Join(child.dir, "testserver")
		cmd := exec.Command(goTool, "build", "-o", child.path, "./internal/testserver")
		if out, err := cmd.CombinedOutput(); err != nil {
			child.err = fmt.Errorf("go build ./internal/testserver: %w\n%s", err, out)
		}
	})
	if child.noGo {
		testenv.Missing(t, "the go command", "put the Go toolchain on PATH")
	}
	if child.err != nil {
		t.Fatal(child.err)
	}
	return child.path
}

func cleanupChild(int) {
	if child.dir != "" {
		_ = os.RemoveAll(child.dir)
	}
}
