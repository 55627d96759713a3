package request

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

//go:generate go run gen_writers.go

// The optional interfaces a ResponseWriter may have, as bits of caps.
const (
	canFlush = 1 << iota
	canHijack
	canReadFrom
	canPush
)

func capsOf(w http.ResponseWriter) uint8 {
	var c uint8
	if _, ok := w.(http.Flusher); ok {
		c |= canFlush
	}
	if _, ok := w.(http.Hijacker); ok {
		c |= canHijack
	}
	if _, ok := w.(io.ReaderFrom); ok {
		c |= canReadFrom
	}
	if _, ok := w.(http.Pusher); ok {
		c |= canPush
	}
	return c
}

// captureWriter records the status and body size of a response, the first
// write error that means the response did not get through, and the write
// deadline the handler set. Its optional methods have lower-case names so
// that they are not promoted: the generated wrapper types (writers_gen.go)
// expose exactly those the underlying writer has.
type captureWriter struct {
	http.ResponseWriter
	caps     uint8
	hijacked bool
	status   int
	bytes    int64
	err      error
	deadline *time.Time // set by SetWriteDeadline; rare, so not inline
}

// fail records err, the first one that means the client does not get the
// response: not the handler's own mistakes, which net/http refuses before
// anything is sent.
func (w *captureWriter) fail(err error) {
	if err == nil || w.err != nil ||
		errors.Is(err, http.ErrBodyNotAllowed) || errors.Is(err, http.ErrContentLength) || errors.Is(err, http.ErrHijacked) {
		return
	}
	w.err = err
}

func (w *captureWriter) WriteHeader(code int) {
	// 1xx responses other than 101 are informational: the final status is
	// still to come.
	if w.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b) // #nosec G705 -- passes the handler's bytes on unchanged; the panic answer it also carries holds only a validated correlation ID
	w.bytes += int64(n)
	if err != nil {
		w.fail(err)
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// SetWriteDeadline is http.ResponseController's, passed on to the writer
// beneath, and remembered: a streaming handler that moves its deadline past
// the server's WriteTimeout has not timed out when that has passed.
func (w *captureWriter) SetWriteDeadline(t time.Time) error {
	err := http.NewResponseController(w.ResponseWriter).SetWriteDeadline(t)
	if err == nil {
		w.deadline = &t
	}
	return err
}

func (w *captureWriter) flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.ResponseWriter.(http.Flusher).Flush()
}

// flushError is Flush for http.ResponseController, which prefers a
// FlushError method: net/http's writers report through it that the client
// has gone, and a streaming handler stops on that error.
func (w *captureWriter) flushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(interface{ FlushError() error }); ok {
		err := f.FlushError()
		w.fail(err)
		return err
	}
	w.ResponseWriter.(http.Flusher).Flush()
	return nil
}

func (w *captureWriter) hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := w.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, rw, err
}

func (w *captureWriter) readFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
	w.bytes += n
	if err != nil {
		w.fail(err)
	}
	return n, err
}

func (w *captureWriter) push(target string, opts *http.PushOptions) error {
	return w.ResponseWriter.(http.Pusher).Push(target, opts)
}
