package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/buildinfo"
)

// ErrLevel is returned by New for a level name zap does not know.
var ErrLevel = errors.New("logging: invalid level (valid: debug, info, warn, error, dpanic, panic, fatal)")

// Config configures New. Its zero value is useful: info level (or
// $LOG_LEVEL), OpenTelemetry keys, no sampling, JSON on stdout.
type Config struct {
	Level   string // default: $LOG_LEVEL, else "info"
	Service string // "service" field on every line, left out when empty
	// Version is the "version" field on every line. Empty means the
	// binary's version, the one metrics' build_info and the trace resource
	// carry: set it once, at build time (see the package doc), not here.
	Version string
	Output  io.Writer // default os.Stdout; writes are serialised

	// Fields chooses the key names; the zero value is OpenTelemetry().
	Fields FieldSet

	// Sampling, when not nil, thins out repeated lines and counts what it
	// drops. Off by default: a line missing when it is needed costs more
	// than the line.
	Sampling *Sampling

	// Buffer, when not nil, holds lines in memory and writes them to
	// Output many at a time (see Buffer for when, and what a crash can
	// lose). Off by default: each line is written before the call returns.
	Buffer *Buffer
}

// Sampling keeps, each Tick and for each level and message, the First
// lines and then every Thereafter-th, and counts the others in Dropped.
// Zero fields take zap's production defaults (1s, 100, 100). Access lines
// share one message, so under load they are thinned too. A Sampling must
// not be copied once passed to New.
type Sampling struct {
	Tick       time.Duration
	First      int
	Thereafter int

	dropped atomic.Uint64
}

// Dropped returns how many lines the sampler has left out so far: export it
// as a metric, so that a quiet log is known to be quiet and not thinned.
func (s *Sampling) Dropped() uint64 { return s.dropped.Load() }

// New builds a logger for containers: one JSON object per line on stdout,
// time in RFC 3339 (nanoseconds, UTC), caller, a stack trace on error and
// above, service and version on every line. The AtomicLevel changes the
// level at run time: serve it on an admin port with LevelHandler.
func New(cfg Config) (*zap.Logger, zap.AtomicLevel, error) {
	name := cfg.Level
	if name == "" {
		name = os.Getenv("LOG_LEVEL")
	}
	lvl := zap.NewAtomicLevel()
	if name != "" {
		if err := lvl.UnmarshalText([]byte(name)); err != nil {
			return nil, lvl, fmt.Errorf("%w: %q", ErrLevel, name)
		}
	}
	k := cfg.Fields.keys()
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		TimeKey:        k.time,
		LevelKey:       k.level,
		NameKey:        k.logger,
		CallerKey:      k.caller,
		MessageKey:     k.msg,
		StacktraceKey:  k.stack,
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    k.levelEnc,
		EncodeTime:     utcTime,
		EncodeDuration: zapcore.SecondsDurationEncoder,
		EncodeCaller:   zapcore.ShortCallerEncoder,
	})
	out := cfg.Output
	if out == nil {
		out = os.Stdout
	}
	var fields []zap.Field
	if cfg.Service != "" {
		fields = append(fields, zap.String(k.service, cfg.Service))
	}
	version := cfg.Version
	if version == "" {
		version = buildinfo.Version()
	}
	if version != "" {
		fields = append(fields, zap.String(k.version, version))
	}
	for key, v := range k.static {
		fields = append(fields, zap.String(key, v))
	}
	core := cfg.Buffer.core(enc, syncer{out}, lvl, fields)
	if s := cfg.Sampling; s != nil {
		tick, first, then := s.Tick, s.First, s.Thereafter
		if tick <= 0 {
			tick = time.Second
		}
		if first <= 0 {
			first = 100
		}
		if then <= 0 {
			then = 100
		}
		core = zapcore.NewSamplerWithOptions(core, tick, first, then,
			zapcore.SamplerHook(func(_ zapcore.Entry, dec zapcore.SamplingDecision) {
				if dec&zapcore.LogDropped != 0 {
					s.dropped.Add(1)
				}
			}))
	}
	logger := zap.New(keyedCore{core, k},
		zap.AddCaller(),
		zap.AddStacktrace(zapcore.ErrorLevel),
		zap.ErrorOutput(zapcore.Lock(os.Stderr)),
	)
	return logger, lvl, nil
}

// utcTime writes RFC 3339 with nanoseconds in UTC, straight into zap's
// buffer (no string is made per line).
func utcTime(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	if a, ok := enc.(interface{ AppendTimeLayout(time.Time, string) }); ok {
		a.AppendTimeLayout(t.UTC(), time.RFC3339Nano)
		return
	}
	enc.AppendString(t.UTC().Format(time.RFC3339Nano))
}

// keyedCore carries the field set along with the core, so that the
// middleware, FromContext and Slog name the IDs as New named everything
// else, without the set being passed twice.
type keyedCore struct {
	zapcore.Core
	k *keys
}

func (c keyedCore) With(fields []zapcore.Field) zapcore.Core {
	return keyedCore{c.Core.With(fields), c.k}
}

// Level lets zap.Logger.Level see through the wrapper.
func (c keyedCore) Level() zapcore.Level { return zapcore.LevelOf(c.Core) }

func (c keyedCore) fieldKeys() *keys { return c.k }

// keysOf returns the field set of a logger made by New (or a request logger
// made from one), else the default.
func keysOf(l *zap.Logger) *keys {
	if c, ok := l.Core().(interface{ fieldKeys() *keys }); ok {
		return c.fieldKeys()
	}
	return otelKeys
}

// syncer makes Sync harmless on stdout: fsync of a pipe or terminal fails
// with EINVAL or ENOTTY, which would turn every clean exit's
// logger.Sync() into a spurious error.
type syncer struct{ io.Writer }

func (s syncer) Sync() error {
	f, ok := s.Writer.(interface{ Sync() error })
	if !ok {
		return nil
	}
	err := f.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTTY) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}
