package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Errors a reload reports (through Check and the logger) and Watch returns.
var (
	ErrNotRegular = errors.New("secrets: not a regular file")
	ErrTooLarge   = errors.New("secrets: file larger than the size limit")
	ErrEmpty      = errors.New("secrets: file is empty")
	ErrUnstable   = errors.New("secrets: file kept changing while it was read")
	ErrNotLoaded  = errors.New("secrets: no value loaded yet")
	ErrClosed     = errors.New("secrets: watch closed")
	ErrExpired    = errors.New("secrets: certificate has expired")
)

// stableReads is how many reads readStable makes at most to get two in a
// row that agree.
const stableReads = 4

// readStable reads path until two reads in a row return the same bytes, so
// a value caught half way through a write in place is not taken for the
// new one. It returns the content, trimmed when the config says so, and
// refuses an empty result.
func readStable(path string, c *config) ([]byte, error) {
	prev, err := readRegular(path, c.maxSize)
	if err != nil {
		return nil, err
	}
	for range stableReads - 1 {
		cur, err := readRegular(path, c.maxSize)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(prev, cur) {
			if c.trim {
				cur = trimNewline(cur)
			}
			if len(cur) == 0 {
				return nil, ErrEmpty
			}
			return cur, nil
		}
		prev = cur
	}
	return nil, ErrUnstable
}

// readRegular reads a regular file of at most maxSize bytes. It opens
// without blocking (openFlags) and checks the type on the open descriptor,
// so a FIFO put in the file's place is an error, not a hang, and a swap
// between the check and the read cannot slip another file in.
func readRegular(path string, maxSize int64) ([]byte, error) {
	// #nosec G304 -- reading the file the caller named is this package's job.
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%s)", ErrNotRegular, fi.Mode().Type())
	}
	if fi.Size() > maxSize {
		return nil, fmt.Errorf("%w (%d > %d bytes)", ErrTooLarge, fi.Size(), maxSize)
	}
	// The file may grow after the stat: read one byte past the limit to see it.
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxSize {
		return nil, fmt.Errorf("%w (more than %d bytes)", ErrTooLarge, maxSize)
	}
	return b, nil
}

// trimNewline drops the trailing line ends that echo and kubectl leave.
func trimNewline(b []byte) []byte {
	return bytes.TrimRight(b, "\r\n")
}
