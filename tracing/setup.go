package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/prodready/prodready/internal/buildinfo"
)

// DefaultShutdownTimeout is the least time Shutdown gives the final flush,
// whatever is left of the caller's context.
const DefaultShutdownTimeout = 5 * time.Second

// Config holds what the service knows about itself and how Setup runs. A
// zero field means "the default". The fields from ServiceName to Sampler
// are fallbacks: the matching OTEL_* variable wins when it is set. The
// rest (SpanExporters to ShutdownTimeout) have no variable.
type Config struct {
	// ServiceName is service.name unless OTEL_SERVICE_NAME or service.name
	// in OTEL_RESOURCE_ATTRIBUTES is set; default "unknown_service:<binary>".
	ServiceName string
	// ServiceVersion is service.version. Empty means the binary's
	// version, the one the log lines and metrics' build_info carry.
	ServiceVersion string
	// Environment is deployment.environment.name ("production", "staging").
	Environment string
	// Attributes are added to the resource; OTEL_RESOURCE_ATTRIBUTES wins
	// over them.
	Attributes []attribute.KeyValue
	// Resource is merged under everything above, for detectors of your own
	// (cloud, Kubernetes). A schema URL conflict with the built-in
	// detectors is tolerated: the merged resource is kept, schemaless.
	Resource *resource.Resource

	// Exporter is used when OTEL_TRACES_EXPORTER is unset: "otlp",
	// "console", "none", or a comma-separated list. Empty means otlp when an
	// endpoint is configured and none otherwise.
	Exporter string
	// Endpoint is the OTLP traces URL used when neither
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT nor OTEL_EXPORTER_OTLP_ENDPOINT is
	// set, taken as is ("http://collector:4318/v1/traces").
	Endpoint string
	// Sampler is used when OTEL_TRACES_SAMPLER is unset; default
	// ParentBased(AlwaysSample()).
	Sampler sdktrace.Sampler

	// SpanExporters are exporters of your own (an in-memory one in tests,
	// a vendor's), used next to those the environment selects.
	// OTEL_SDK_DISABLED still turns everything off.
	SpanExporters []sdktrace.SpanExporter
	// ConsoleOutput is where the console exporter writes; nil means
	// os.Stdout.
	ConsoleOutput io.Writer
	// Logger receives what goes wrong once Setup has returned, each kind
	// under its own message and at most once a minute (the next line
	// counts the repeats left out, as suppressed):
	//   - "trace export failed" (warn): an exporter failed in the
	//     background; ForceFlush and Shutdown return their failures instead.
	//   - "invalid baggage header from a client, ignored" (info): a
	//     request's baggage header is malformed or over the W3C limits; the
	//     request goes on with the members that parsed, or none.
	//   - "OpenTelemetry error" (warn): anything else OTel reports to its
	//     global error handler, which Setup installs unless NoGlobal.
	// Nil means slog.Default(), looked up when it logs; silence it with
	// slog.New(slog.DiscardHandler), feed it zap with logging.Slog.
	Logger *slog.Logger
	// NoGlobal leaves the OTel globals alone: by default Setup installs its
	// provider, its propagator and an error handler logging to Logger as
	// the global ones. With NoGlobal, hand the
	// provider to Middleware and Transport with the TracerProvider and
	// Propagator options.
	NoGlobal bool
	// ShutdownTimeout is the least time Shutdown gives the final flush even
	// when the caller's context is nearly spent or cancelled; zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Provider owns the tracer provider Setup built. Its zero value is not
// useful; a nil *Provider's Shutdown is a no-op.
type Provider struct {
	tp              trace.TracerProvider
	sdk             *sdktrace.TracerProvider // nil when disabled
	propagator      propagation.TextMapPropagator
	shutdownTimeout time.Duration
	report          *reporter
	flushing        atomic.Int32 // ForceFlush calls in progress: exporters return their errors to them

	once sync.Once
	err  error
}

// Setup builds a TracerProvider and propagator from the OTEL_* environment,
// with cfg filling what the environment leaves unset, and installs both,
// and an error handler that logs to cfg.Logger, as the OTel globals unless
// cfg.NoGlobal is set.
//
// With nothing configured the provider exports nothing, logs nothing and
// records only spans whose caller sampled them: every span still has a
// trace ID, so trace IDs reach logs and outgoing calls, and a sampled
// trace that crosses this service stays whole. OTEL_SDK_DISABLED=true
// makes it a no-op provider. An invalid
// variable is an error wrapping ErrInvalidEnv that names it; nothing is
// installed then.
func Setup(ctx context.Context, cfg Config) (*Provider, error) {
	report := &reporter{logger: cfg.Logger}
	s, err := readEnv(cfg, report)
	if err != nil {
		return nil, err
	}

	shutdownTimeout := cfg.ShutdownTimeout
	if shutdownTimeout <= 0 {
		shutdownTimeout = DefaultShutdownTimeout
	}
	p := &Provider{propagator: s.propagator, shutdownTimeout: shutdownTimeout, report: report}
	if s.disabled {
		p.tp = noop.NewTracerProvider()
	} else {
		res := buildResource(ctx, cfg, s)
		exporters, err := newExporters(ctx, s, cfg.ConsoleOutput)
		if err != nil {
			return nil, err
		}
		exporters = append(exporters, cfg.SpanExporters...)
		sampler := s.sampler
		if len(exporters) == 0 && !s.samplerSet {
			// Nothing is exported, so recording spans is pure cost. Root
			// spans still get trace IDs (for logs and the next service)
			// but are not recorded; a request whose caller sampled it is
			// still sampled, so a trace crossing this service stays whole.
			sampler = sdktrace.ParentBased(sdktrace.NeverSample())
		}
		tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
		for _, e := range exporters {
			tpOpts = append(tpOpts, sdktrace.WithBatcher(exporter{e, p}))
		}
		p.sdk = sdktrace.NewTracerProvider(tpOpts...)
		p.tp = p.sdk
	}

	if !cfg.NoGlobal {
		otel.SetTracerProvider(p.tp)
		otel.SetTextMapPropagator(p.propagator)
		otel.SetErrorHandler(otel.ErrorHandlerFunc(report.handle))
	}
	return p, nil
}

func newExporters(ctx context.Context, s settings, console io.Writer) ([]sdktrace.SpanExporter, error) {
	if console == nil {
		console = os.Stdout
	}
	var out []sdktrace.SpanExporter
	for _, name := range s.exporters {
		var (
			e   sdktrace.SpanExporter
			err error
		)
		switch {
		case name == "console":
			e, err = stdouttrace.New(stdouttrace.WithWriter(console))
		case s.protocol == protocolGRPC:
			gopts := []otlptracegrpc.Option{otlptracegrpc.WithHeaders(s.headers)}
			if s.endpoint != "" {
				gopts = append(gopts, otlptracegrpc.WithEndpointURL(s.endpoint))
			}
			e, err = otlptracegrpc.New(ctx, gopts...)
		default:
			hopts := []otlptracehttp.Option{otlptracehttp.WithHeaders(s.headers)}
			if s.endpoint != "" {
				hopts = append(hopts, otlptracehttp.WithEndpointURL(s.endpoint))
			}
			e, err = otlptracehttp.New(ctx, hopts...)
		}
		if err != nil {
			for _, made := range out {
				_ = made.Shutdown(ctx) // nothing was exported yet; only resources to free
			}
			return nil, fmt.Errorf("tracing: %s exporter: %w", name, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// buildResource layers, lowest first: detected host, process and container
// attributes; cfg.Resource; cfg's fields; OTEL_RESOURCE_ATTRIBUTES;
// OTEL_SERVICE_NAME. Detection is best effort: a detector that fails (no
// /etc/passwd in a scratch image, no cgroup file) leaves its attributes
// out, and a schema URL conflict leaves the resource schemaless.
func buildResource(ctx context.Context, cfg Config, s settings) *resource.Resource {
	res, _ := resource.New(ctx, // #nosec G104 -- partial results are kept on purpose, see above
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		// Command arguments are left out: they often carry secrets.
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithContainerID(),
	)

	own := []attribute.KeyValue{semconv.ServiceName(defaultServiceName())}
	if cfg.ServiceName != "" {
		own = append(own, semconv.ServiceName(cfg.ServiceName))
	}
	version := cfg.ServiceVersion
	if version == "" {
		version = buildinfo.Version()
	}
	if version != "" {
		own = append(own, semconv.ServiceVersion(version))
	}
	if cfg.Environment != "" {
		own = append(own, semconv.DeploymentEnvironmentNameKey.String(cfg.Environment))
	}
	own = append(own, cfg.Attributes...)
	own = append(own, s.resource...)
	if s.serviceName != "" {
		own = append(own, semconv.ServiceName(s.serviceName))
	}

	for _, layer := range []*resource.Resource{cfg.Resource, resource.NewSchemaless(own...)} {
		merged, err := resource.Merge(res, layer)
		if errors.Is(err, resource.ErrSchemaURLConflict) {
			// Merge returns the schemaless union alongside this error.
			err = nil
		}
		if err == nil {
			res = merged
		}
	}
	return res
}

func defaultServiceName() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown_service:go"
	}
	return "unknown_service:" + filepath.Base(exe)
}

// TracerProvider returns the provider, for Middleware and Transport when
// Setup ran with Config.NoGlobal. It is a no-op provider when
// OTEL_SDK_DISABLED is true.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// Propagator returns the propagator chosen by OTEL_PROPAGATORS.
func (p *Provider) Propagator() propagation.TextMapPropagator { return p.propagator }

// ForceFlush exports every finished span now.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil || p.sdk == nil {
		return nil
	}
	p.flushing.Add(1)
	defer p.flushing.Add(-1)
	return p.sdk.ForceFlush(ctx)
}

// Shutdown flushes the spans still queued and stops the exporters. It
// spends at most the caller's remaining time or the shutdown timeout
// (Config.ShutdownTimeout, default 5s), whichever is longer: a caller whose
// context is already spent or cancelled still gets its spans exported.
// Flush and shutdown errors are joined. Calling it again returns the
// first call's result.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.once.Do(func() { p.err = p.shutdown(ctx) })
	return p.err
}

func (p *Provider) shutdown(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	budget := p.shutdownTimeout
	if dl, ok := ctx.Deadline(); ok && ctx.Err() == nil {
		budget = max(budget, time.Until(dl))
	}
	base := context.WithoutCancel(ctx)

	// Flush first under most of the budget, then shut down under a deadline
	// of its own, so a slow flush cannot leave the exporters unclosed.
	flushCtx, cancel := context.WithTimeout(base, budget*4/5)
	flushErr := p.ForceFlush(flushCtx)
	cancel()
	stopCtx, cancel := context.WithTimeout(base, max(budget/5, time.Second))
	defer cancel()
	stopErr := p.sdk.Shutdown(stopCtx)

	var errs []error
	if flushErr != nil {
		errs = append(errs, fmt.Errorf("tracing: flush: %w", flushErr))
	}
	if stopErr != nil {
		errs = append(errs, fmt.Errorf("tracing: shutdown: %w", stopErr))
	}
	return errors.Join(errs...)
}
