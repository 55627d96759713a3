package tracing

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// reportInterval is how often at most Setup's Logger gets a line of each
// kind: the repeats in between are counted in the next line's suppressed
// attribute, so an outage or a misbehaving client costs one line a minute.
const reportInterval = time.Minute

// The messages of Setup's Logger, one per kind of trouble.
const (
	msgExport  = "trace export failed"
	msgBaggage = "invalid baggage header from a client, ignored"
	msgOTel    = "OpenTelemetry error"
)

// maxReportedError bounds the error text of a line: a baggage error quotes
// the client's header, up to 8 KiB of it.
const maxReportedError = 512

// reporter logs what goes wrong after Setup, each kind at most once per
// reportInterval. The zero value logs to slog.Default().
type reporter struct {
	logger *slog.Logger // nil: slog.Default(), looked up when it logs

	mu    sync.Mutex
	kinds map[string]*window
}

// window is one kind's rate limit.
type window struct {
	next       time.Time // no line before this
	suppressed int       // repeats since the last line
}

// report logs err under msg at level, unless a line of msg went out less
// than reportInterval ago. A nil reporter logs to slog.Default() unlimited.
func (r *reporter) report(level slog.Level, msg string, err error) {
	attrs := []slog.Attr{slog.String("error", cut(err.Error(), maxReportedError))}
	log := slog.Default()
	if r != nil {
		now := time.Now()
		r.mu.Lock()
		if r.kinds == nil {
			r.kinds = map[string]*window{}
		}
		w := r.kinds[msg]
		if w == nil {
			w = &window{}
			r.kinds[msg] = w
		}
		if now.Before(w.next) {
			w.suppressed++
			r.mu.Unlock()
			return
		}
		if w.suppressed > 0 {
			attrs = append(attrs, slog.Int("suppressed", w.suppressed))
		}
		w.next, w.suppressed = now.Add(reportInterval), 0
		r.mu.Unlock()
		if r.logger != nil {
			log = r.logger
		}
	}
	log.LogAttrs(context.Background(), level, msg, attrs...)
}

// handle is the OTel global error handler Setup installs: it sorts what
// OTel reports by where it came from.
func (r *reporter) handle(err error) {
	var ee exportError
	switch s := err.Error(); {
	case errors.As(err, &ee), strings.HasPrefix(s, "traces export"), strings.HasPrefix(s, "OTLP partial success"):
		r.report(slog.LevelWarn, msgExport, err)
	case strings.Contains(s, "baggage"):
		// OTel's own Baggage propagator, given to Middleware in place of
		// Setup's.
		r.report(slog.LevelInfo, msgBaggage, err)
	default:
		r.report(slog.LevelWarn, msgOTel, err)
	}
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(cut)"
}

// exportError marks a failed export that Provider.ForceFlush returns to
// its caller; should the batcher pass it to the global error handler
// instead (a background export that failed during a flush), handle still
// knows it for an export failure.
type exportError struct{ error }

func (e exportError) Unwrap() error { return e.error }

// exporter reports its failed background exports itself, as
// msgExport: the batcher would hand them to OTel's global error handler,
// which knows nothing of where they came from, and which is not ours with
// NoGlobal. The failures of a flush go to the flush's caller.
type exporter struct {
	sdktrace.SpanExporter
	p *Provider
}

func (e exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	switch {
	case err == nil:
		return nil
	case e.p.flushing.Load() > 0:
		return exportError{err}
	}
	e.p.report.report(slog.LevelWarn, msgExport, err)
	return nil
}

// baggagePropagator is propagation.Baggage whose Extract reports a
// client's invalid or oversize header as what it is. OTel's reports it to
// the global error handler, once per process, indistinguishable from an
// export failure.
type baggagePropagator struct {
	propagation.Baggage
	r *reporter
}

// Extract keeps the members of the baggage header that parse, within the
// W3C limits (8192 bytes for all baggage headers together, 64 members),
// as OTel's does.
func (b baggagePropagator) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	var v string
	if vg, ok := carrier.(propagation.ValuesGetter); ok {
		switch vs := vg.Values("baggage"); len(vs) {
		case 0:
		case 1:
			v = vs[0]
		default:
			v = strings.Join(slices.DeleteFunc(slices.Clone(vs), func(s string) bool { return strings.TrimSpace(s) == "" }), ",")
		}
	} else {
		v = carrier.Get("baggage")
	}
	if v == "" {
		return ctx
	}
	bag, err := baggage.Parse(v)
	if err != nil {
		b.r.report(slog.LevelInfo, msgBaggage, err)
	}
	if bag.Len() == 0 {
		return ctx
	}
	return baggage.ContextWithBaggage(ctx, bag)
}
