package testenv

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// LogBuffer is an io.Writer that many goroutines may write to (a logger, a
// server, a child process's output) while a test reads what was written
// or waits for a line. The zero value is ready to use.
type LogBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// Write appends p and wakes every WaitLine.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return len(p), nil
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset forgets everything written so far.
func (b *LogBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// Lines returns the complete lines written so far, without their newlines.
func (b *LogBuffer) Lines() []string {
	var out []string
	for line := range strings.Lines(b.String()) {
		if strings.HasSuffix(line, "\n") {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return out
}

// JSON decodes every complete line as one JSON object; a line that is not
// one fails the test.
func (b *LogBuffer) JSON(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range b.Lines() {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not a JSON object: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// WaitLine returns the first complete line containing substr, waiting up
// to timeout for it to be written; it fails the test with the output so
// far when none comes. The timeout is a bound on a broken run, not a
// measurement: a healthy run returns as soon as the line is written.
func (b *LogBuffer) WaitLine(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		text := b.buf.String()
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		changed := b.changed
		b.mu.Unlock()
		for line := range strings.Lines(text) {
			if strings.HasSuffix(line, "\n") && strings.Contains(line, substr) {
				return strings.TrimSuffix(line, "\n")
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no line with %q after %v; output so far:\n%s", substr, timeout, text)
		}
	}
}
