package secrets

import (
	"log/slog"
	"time"
)

// The defaults, in one place.
const (
	defaultDebounce     = 100 * time.Millisecond
	defaultMaxWait      = time.Second
	defaultPollInterval = 10 * time.Second
	defaultMaxSize      = 1 << 20 // 1 MiB
)

// Option configures Watch and NewCertificate.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	debounce time.Duration
	poll     time.Duration
	maxSize  int64
	trim     bool
	validate func([]byte) error
	wait     bool
	logger   *slog.Logger // nil: slog.Default() at the time of logging
	source   notifySource // the event source; tests replace the shared fsnotify hub
}

func newConfig(opts []Option) config {
	c := config{
		debounce: defaultDebounce,
		poll:     defaultPollInterval,
		maxSize:  defaultMaxSize,
		source:   joinHub,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// log returns the logger to use now: the one given, else slog.Default().
func (c *config) log() *slog.Logger {
	if c.logger != nil {
		return c.logger
	}
	return slog.Default()
}

// maxWait bounds the debounce: a file that changes without a pause is still
// reloaded at least this often.
func (c *config) maxWait() time.Duration { return max(c.debounce, defaultMaxWait) }

// Debounce sets how long the directory must stay quiet after a change
// before the file is read again (default 100ms). Writers that change a file
// in several steps (truncate, then write; the Kubernetes symlink swap) are
// read once, after the last step. A file that never goes quiet is still
// read at least once a second. Zero reads at once on every event.
func Debounce(d time.Duration) Option {
	return optionFunc(func(c *config) { c.debounce = max(d, 0) })
}

// PollInterval sets how often the file is re-read whatever the events say
// (default 10s): the backup for filesystems that send no events (NFS, FUSE,
// some container bind mounts), a watch lost with its directory, and an
// overflowed event queue. Zero or less turns polling off.
func PollInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.poll = max(d, 0) })
}

// MaxSize sets the largest file that is read, in bytes (default 1 MiB). A
// larger file is an error and the last good value stays.
func MaxSize(n int64) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxSize = n
		}
	})
}

// TrimNewline(true) removes the trailing line ends ("\n", "\r\n") that
// echo and kubectl create secret --from-file leave behind. Default false:
// the content is used byte for byte.
func TrimNewline(trim bool) Option {
	return optionFunc(func(c *config) { c.trim = trim })
}

// Validate sets a check a new value must pass before it is published (a
// parser, a length check). A value that fails keeps the last good one and
// the error shows in Check. For a Certificate it receives the certificate
// file's PEM, after the key pair itself has been verified.
func Validate(fn func([]byte) error) Option {
	return optionFunc(func(c *config) { c.validate = fn })
}

// WaitForFile(true) lets Watch and NewCertificate start before the file
// exists (or while it is empty or invalid): they return at once, the value
// is empty until the first good read, and Check reports ErrNotLoaded until
// then. Meanwhile the Logger says so once per reason: "secret not loaded
// yet: waiting for the file to appear" (Info) or "... the file cannot be
// used; waiting for a good one" (Warn), never "keeping the last good
// value", as there is none. Default false: such a file is an error at start,
// returned by Watch and not logged.
func WaitForFile(wait bool) Option {
	return optionFunc(func(c *config) { c.wait = wait })
}

// Logger sets where loads, reloads and failed reads are logged (Info and
// Warn; a panicking subscriber at Error). Secret content is never logged,
// nor its hash. The default, and what a nil logger means, is slog.Default()
// at the time of logging. Pass slog.New(slog.DiscardHandler) for silence;
// to feed zap, pass logging.Slog(logger).
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}
