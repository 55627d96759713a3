package logging_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
)

// writes records each write(2) a logger makes as one chunk.
type writes struct {
	mu     sync.Mutex
	chunks []string
	syncs  int
	err    error // returned by every Write when set
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.chunks = append(w.chunks, string(p))
	return len(p), nil
}

func (w *writes) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.syncs++
	return nil
}

// got returns the chunks written so far, each as the messages of its
// lines.
func (w *writes) got(t *testing.T) [][]string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out [][]string
	for _, c := range w.chunks {
		if !strings.HasSuffix(c, "\n") {
			t.Fatalf("a write ends inside a line: %q", c)
		}
		var b testenv.LogBuffer
		b.Write([]byte(c))
		var msgs []string
		for _, m := range b.JSON(t) {
			msgs = append(msgs, fmt.Sprint(m["msg"]))
		}
		out = append(out, msgs)
	}
	return out
}

func bufferedLogger(t *testing.T, out *writes, b logging.Buffer) *zap.Logger {
	t.Helper()
	l, _, err := logging.New(logging.Config{Output: out, Buffer: &b})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBufferHoldsLinesForTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out writes
		l := bufferedLogger(t, &out, logging.Buffer{FlushInterval: time.Second})
		l.Info("a")
		time.Sleep(500 * time.Millisecond)
		l.Info("b")
		time.Sleep(499 * time.Millisecond)
		synctest.Wait()
		if got := out.got(t); len(got) != 0 {
			t.Fatalf("written before the interval: %v", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := fmt.Sprint(out.got(t)); got != "[[a b]]" {
			t.Fatalf("after the interval: %s, want one write of a and b", got)
		}
		// The next line starts a new interval.
		l.Info("c")
		time.Sleep(time.Second)
		synctest.Wait()
		if got := fmt.Sprint(out.got(t)); got != "[[a b] [c]]" {
			t.Fatalf("%s", got)
		}
	})
}

func TestBufferWritesWholeLinesWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out writes
		// Room for two of these lines, not three.
		var probe bytes.Buffer
		pl, _, _ := logging.New(logging.Config{Output: &probe})
		pl.Info("line-0")
		size := 2*probe.Len() + probe.Len()/2
		l := bufferedLogger(t, &out, logging.Buffer{Size: size, FlushInterval: time.Hour})
		for i := range 5 {
			l.Info(fmt.Sprintf("line-%d", i))
		}
		l.Info(strings.Repeat("x", 3*size)) // longer than the buffer
		l.Info("line-6")
		if got := fmt.Sprint(out.got(t)); got != fmt.Sprintf("[[line-0 line-1] [line-2 line-3] [line-4] [%s]]", strings.Repeat("x", 3*size)) {
			t.Errorf("writes: %s", got)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		got := out.got(t)
		if last := fmt.Sprint(got[len(got)-1]); last != "[line-6]" || out.syncs != 1 {
			t.Errorf("Sync wrote %s and synced %d times", last, out.syncs)
		}
	})
}

func TestBufferWritesWarningsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out writes
		l := bufferedLogger(t, &out, logging.Buffer{FlushInterval: time.Hour})
		l.Info("a")
		l.Debug("hidden")
		l.Info("b")
		if got := out.got(t); len(got) != 0 {
			t.Fatalf("info written at once: %v", got)
		}
		l.Warn("c")
		if got := fmt.Sprint(out.got(t)); got != "[[a b c]]" {
			t.Fatalf("after a warning: %s, want a, b and c in one write", got)
		}
		l.Info("d")
		l.Error("e")
		if got := fmt.Sprint(out.got(t)); got != "[[a b c] [d e]]" {
			t.Fatalf("after an error line: %s", got)
		}
		// Through slog as well, as the shutdown package logs.
		logging.Slog(l).Info("f")
		logging.Slog(l).Warn("second signal: exiting now")
		if got := fmt.Sprint(out.got(t)); got != "[[a b c] [d e] [f second signal: exiting now]]" {
			t.Fatalf("after a slog warning: %s", got)
		}

		// The access line of a failed request is an error line too, and the
		// handler's own line goes out with it, ahead of it.
		h := logging.Middleware(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			logging.FromContext(r.Context()).Info("handling")
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if got := fmt.Sprint(out.got(t)); got != "[[a b c] [d e] [f second signal: exiting now] [handling request]]" {
			t.Fatalf("after a 503: %s", got)
		}
		// A request that went well is held.
		mux := http.NewServeMux()
		mux.HandleFunc("GET /", func(http.ResponseWriter, *http.Request) {})
		h = logging.Middleware(l)(mux)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if got := out.got(t); len(got) != 4 {
			t.Fatalf("a 200's access line was written at once: %v", got)
		}
		if l.Level() != zap.InfoLevel {
			t.Errorf("level %v through the buffer", l.Level())
		}
	})
}

func TestBufferKeepsOrderUnderConcurrency(t *testing.T) {
	var out writes
	// Small enough that the goroutines keep filling it.
	l := bufferedLogger(t, &out, logging.Buffer{Size: 1 << 10, FlushInterval: time.Millisecond})
	const goroutines, lines = 8, 300
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range lines {
				l.Info(fmt.Sprintf("%d-%d", g, i))
			}
		})
	}
	wg.Wait()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, goroutines)
	n := 0
	for _, chunk := range out.got(t) {
		for _, msg := range chunk {
			var g, i int
			if _, err := fmt.Sscanf(msg, "%d-%d", &g, &i); err != nil {
				t.Fatalf("line %q: %v", msg, err)
			}
			if i != next[g] {
				t.Fatalf("goroutine %d: line %d after line %d", g, i, next[g]-1)
			}
			next[g]++
			n++
		}
	}
	if n != goroutines*lines {
		t.Errorf("%d lines, want %d", n, goroutines*lines)
	}
}

func TestBufferReportsWriteErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broken := errors.New("pipe closed")
		out := writes{err: broken}
		l := bufferedLogger(t, &out, logging.Buffer{FlushInterval: time.Second})
		l.Info("a")
		if err := l.Sync(); !errors.Is(err, broken) {
			t.Errorf("Sync: %v, want the write's error", err)
		}
		// A write the interval made reports to the next Sync.
		l.Info("b")
		time.Sleep(time.Second)
		synctest.Wait()
		out.mu.Lock()
		out.err = nil
		out.mu.Unlock()
		if err := l.Sync(); !errors.Is(err, broken) {
			t.Errorf("Sync after a failed timed write: %v", err)
		}
		if err := l.Sync(); err != nil {
			t.Errorf("the error was reported twice: %v", err)
		}
	})
}

// TestBufferSyncReaderGone: a reader that went away (EPIPE, a closed
// stdout) fails the writes, not the Sync of a shutdown, as without a
// Buffer, where each line's failed write is reported on its own.
func TestBufferSyncReaderGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := writes{err: &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}}
		l := bufferedLogger(t, &out, logging.Buffer{FlushInterval: time.Second})
		l.Info("a")
		if err := l.Sync(); err != nil {
			t.Errorf("Sync with the reader gone: %v, want nil", err)
		}
	})
}

// TestBufferAllocs holds the buffer to the logger's allocation budget: no
// allocation of its own, for a line or for a request's access line.
func TestBufferAllocs(t *testing.T) {
	buffered, _, _ := logging.New(logging.Config{Output: io.Discard, Buffer: &logging.Buffer{}})
	plain, _, _ := logging.New(logging.Config{Output: io.Discard})
	line := func(l *zap.Logger) func() {
		return func() { l.Info("stored", zap.String("id", "42"), zap.Int("n", 7)) }
	}
	if extra := testenv.ExtraAllocs(1000, line(buffered), line(plain)); extra > 0 {
		t.Errorf("a buffered line allocates %v more", extra)
	}
	request := func(l *zap.Logger) func() {
		h := logging.Middleware(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Correlation-ID", "abc-123")
		rec := httptest.NewRecorder()
		return func() { h.ServeHTTP(rec, req) }
	}
	if extra := testenv.ExtraAllocs(1000, request(buffered), request(plain)); extra > 0 {
		t.Errorf("a buffered access line allocates %v more", extra)
	}
}

// BenchmarkBuffer is an access line per request written to a real pipe,
// drained by another goroutine as a log shim drains a container's stdout:
// one write(2) per line, or the buffer's.
func BenchmarkBuffer(b *testing.B) {
	for _, tt := range []struct {
		name string
		buf  *logging.Buffer
	}{{"unbuffered", nil}, {"buffered", &logging.Buffer{}}} {
		b.Run(tt.name, func(b *testing.B) {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			drained := make(chan struct{})
			go func() {
				io.Copy(io.Discard, r)
				close(drained)
			}()
			l, _, err := logging.New(logging.Config{Output: w, Buffer: tt.buf})
			if err != nil {
				b.Fatal(err)
			}
			h := logging.Middleware(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
			}))
			req := httptest.NewRequest("GET", "/products/p1", nil)
			req.Header.Set("User-Agent", "bench/1.0")
			rec := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(rec, req)
			}
			b.StopTimer()
			if err := l.Sync(); err != nil {
				b.Error(err)
			}
			w.Close()
			<-drained
			r.Close()
		})
	}
}
