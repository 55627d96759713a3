package logging

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
)

// Default sizes of a Buffer's zero fields.
const (
	DefaultBufferSize    = 32 << 10 // bytes: about 75 access lines of 440 bytes
	DefaultFlushInterval = 100 * time.Millisecond
)

// Why not zapcore.BufferedWriteSyncer: it buffers bytes below the core,
// so it cannot tell a warn or error line from an access line and holds
// the line that explains a failure (or shutdown's "exiting now") for up
// to its flush interval, where this Buffer writes it at once with
// everything before it (TestBufferWritesWarningsAtOnce); the two batch
// write(2) calls alike otherwise.
//
// Buffer, set in Config.Buffer, makes the logger gather lines in memory
// and write them to Output many at a time, instead of one write(2) per
// line: under load the system call is most of a line's cost (the access
// line of a busy service, to a pipe, as a container's stdout is). Zero
// fields take DefaultBufferSize and DefaultFlushInterval.
//
// Buffered lines are written out, in the order they were logged, when
//   - the next line would not fit in Size bytes (a line longer than Size
//     is written alone, after the lines held);
//   - FlushInterval has passed since the oldest line held was logged;
//   - a line at warn level or above is logged: it goes out at once with
//     every line before it (zap syncs Output after a dpanic, panic or
//     fatal line too), so the line that explains a failure, or an exit the
//     program announces (shutdown's "second signal: exiting now"), is
//     written before the program goes on;
//   - the logger's Sync is called, as a shutdown sequence does last (the
//     shutdown package's hook "logger" in the examples).
//
// What can be lost: the lines held when the process dies without Sync —
// SIGKILL (the OOM killer, a kubelet whose grace period ran out), a panic
// no one recovers on a goroutine of the program's own, a runtime fatal
// error, os.Exit without Sync. That is at most Size bytes (about 75 access
// lines at the default), logged in the last FlushInterval. Without a
// Buffer nothing is held: each line is written before the logging call
// returns. Hence opt-in.
//
// Writes of a program's own to the same Output (fmt.Println to os.Stdout)
// bypass the buffer and can land ahead of lines logged before them. A
// write error is returned to the line that caused the write, or, for a
// write FlushInterval caused, to the next line or Sync.
type Buffer struct {
	Size          int           // bytes held before a write; default DefaultBufferSize
	FlushInterval time.Duration // the longest a line is held; default DefaultFlushInterval
}

// core is the logger's innermost core: Output locked, or buffered when b
// is set.
func (b *Buffer) core(enc zapcore.Encoder, out zapcore.WriteSyncer, lvl zapcore.LevelEnabler, fields []zapcore.Field) zapcore.Core {
	if b == nil {
		return newLineCore(enc, zapcore.Lock(out), lvl, fields)
	}
	w := newBufferedWriter(out, b.Size, b.FlushInterval)
	return &flushCore{Core: newLineCore(enc, w, lvl, fields), w: w}
}

// bufferedWriter holds whole lines until they fill size bytes or the
// oldest has waited interval. It is safe for concurrent use, and every
// write to out happens under its lock, so out needs no lock of its own.
type bufferedWriter struct {
	out      zapcore.WriteSyncer
	size     int
	interval time.Duration

	mu    sync.Mutex
	buf   []byte
	timer *time.Timer // runs tick interval after the first line held
	armed bool        // a tick is due: the timer is pending, or fired and waiting for mu
	err   error       // of a tick's write, for the next Write or Sync
}

func newBufferedWriter(out zapcore.WriteSyncer, size int, interval time.Duration) *bufferedWriter {
	if size <= 0 {
		size = DefaultBufferSize
	}
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	w := &bufferedWriter{out: out, size: size, interval: interval, buf: make([]byte, 0, size)}
	w.timer = time.AfterFunc(time.Hour, w.tick)
	w.timer.Stop()
	return w
}

// Write holds p, one encoded line, writing out what was held first when p
// would not fit. zap hands over its own buffer, so p is copied.
func (w *bufferedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf)+len(p) > w.size {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > w.size {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	if !w.armed {
		w.armed = true
		w.timer.Reset(w.interval)
	}
	err := w.err
	w.err = nil
	return len(p), err
}

// Sync writes out what is held and syncs out. A reader that has gone away
// (EPIPE: a closed stdout pipe) is not an error of Sync's: the lines are
// lost as they would have been without a Buffer, where each failed write
// was reported on stderr, as zap reports write errors, and the final Sync
// succeeded; so it is reported on stderr here, and a service's shutdown
// does not fail for it.
func (w *bufferedWriter) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flushLocked()
	if err == nil {
		err, w.err = w.err, nil
	}
	if errors.Is(err, syscall.EPIPE) {
		fmt.Fprintf(os.Stderr, "%s write error: %v\n", time.Now().Format(time.RFC3339Nano), err)
		err = nil
	}
	if serr := w.out.Sync(); err == nil {
		err = serr
	}
	return err
}

// flush writes out what is held.
func (w *bufferedWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *bufferedWriter) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	if err := w.flushLocked(); err != nil && w.err == nil {
		w.err = err
	}
}

func (w *bufferedWriter) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0]
	if w.armed && w.timer.Stop() {
		// Stopped before it fired: no tick is due any more. One that
		// fired already is waiting for mu, and will find nothing to do.
		w.armed = false
	}
	return err
}

// flushCore writes lines at warn level and above out at once, with
// everything held before them.
type flushCore struct {
	zapcore.Core
	w *bufferedWriter
}

func (c *flushCore) With(fields []zapcore.Field) zapcore.Core {
	return &flushCore{Core: c.Core.With(fields), w: c.w}
}

func (c *flushCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *flushCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	err := c.Core.Write(ent, fields)
	if ent.Level >= zapcore.WarnLevel {
		if ferr := c.w.flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// Level lets zap.Logger.Level see through the wrapper.
func (c *flushCore) Level() zapcore.Level { return zapcore.LevelOf(c.Core) }
