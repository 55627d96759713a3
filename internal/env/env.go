// Package env reads a service's settings from environment variables, with
// defaults that run on a laptop, and reports every malformed value at once.
//
// # Usage
//
//	var e env.Reader
//	addr := e.String("HTTP_ADDR", ":8080")
//	timeout := e.Duration("SHUTDOWN_TIMEOUT", 25*time.Second)
//	if err := e.Err(); err != nil {
//		return err // names every bad variable, not just the first
//	}
package env

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Reader reads variables and collects the errors of malformed ones, so
// that configuration reads as a list of settings followed by one check.
// The zero value reads the process environment.
type Reader struct {
	// Lookup replaces os.LookupEnv, for tests; nil means os.LookupEnv.
	Lookup func(key string) (string, bool)

	errs []error
}

func (r *Reader) lookup(key string) (string, bool) {
	if r.Lookup != nil {
		return r.Lookup(key)
	}
	return os.LookupEnv(key)
}

// String returns the value of key, or def when it is unset or empty.
func (r *Reader) String(key, def string) string {
	if v, ok := r.lookup(key); ok && v != "" {
		return v
	}
	return def
}

// Duration returns the value of key as a Go duration ("1.5s", "300ms"), or
// def when it is unset or empty. A malformed or negative value is recorded
// for Err and def is returned.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v, ok := r.lookup(key)
	if !ok || v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err == nil && d < 0 {
		err = errors.New("negative")
	}
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want a duration such as 5s: %w", key, v, err))
		return def
	}
	return d
}

// Bool returns the value of key as a boolean ("true", "false", "1", "0"
// and the other spellings of strconv.ParseBool), or def when it is unset or
// empty. A malformed value is recorded for Err and def is returned: a
// typo in PPROF=ture must not switch a feature silently.
func (r *Reader) Bool(key string, def bool) bool {
	v, ok := r.lookup(key)
	if !ok || v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want true or false", key, v))
		return def
	}
	return b
}

// Err returns the errors of every malformed variable read so far, joined,
// or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }
