package tracing_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/prodready/prodready/internal/otlptest"
	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/tracing"
)

// allEnv lists every variable Setup reads; each test starts with all of
// them unset so the machine's environment cannot leak in. (Set but empty
// is not the same: the SDK itself logs an empty OTEL_TRACES_SAMPLER.)
var allEnv = []string{
	"OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_PROPAGATORS",
}

func setenv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range allEnv {
		t.Setenv(k, "") // registers the restore and forbids t.Parallel
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// collector is a span exporter that keeps what it is given, even after
// Shutdown (tracetest.InMemoryExporter forgets its spans on Shutdown).
type collector struct {
	mu       sync.Mutex
	spans    []sdktrace.ReadOnlySpan
	shutdown error
}

func (c *collector) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, spans...)
	return nil
}

func (c *collector) Shutdown(context.Context) error { return c.shutdown }

func (c *collector) Spans() []sdktrace.ReadOnlySpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

func TestSetupRejectsInvalidEnv(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		variable string
	}{
		{"disabled not a boolean", map[string]string{"OTEL_SDK_DISABLED": "yes"}, "OTEL_SDK_DISABLED"},
		{"resource pair without =", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{"resource bad escape", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=%zz"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{"resource empty key", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "=x"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{"none with others", map[string]string{"OTEL_TRACES_EXPORTER": "none,otlp"}, "OTEL_TRACES_EXPORTER"},
		{"endpoint scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint without host", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint without scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"traces endpoint unparsable", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://[::1"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"protocol http/json", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"traces protocol", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{"header name", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "bad header=1"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header escape", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "k=%zz"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header control character", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "k=a%0Ab"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"traces header without =", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "token"}, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{"unknown sampler", map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"},
		{"ratio above 1", map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio not a number", map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG"},
		{"propagator not built in", map[string]string{"OTEL_PROPAGATORS": "tracecontext,b3"}, "OTEL_PROPAGATORS"},
		{"unknown propagator", map[string]string{"OTEL_PROPAGATORS": "w3c"}, "OTEL_PROPAGATORS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true})
			if !errors.Is(err, tracing.ErrInvalidEnv) || !strings.Contains(err.Error(), tt.variable) {
				t.Errorf("Setup error = %v, want ErrInvalidEnv naming %s", err, tt.variable)
			}
			if p != nil {
				t.Errorf("Setup returned a provider with its error")
			}
		})
	}
}

// credential is a known secret string: no error may show it, in any of
// the spellings a value can take on its way through the parsers.
const credential = "s3cr3t-API-k3y"

// TestSetupErrorsHideCredentials gives Setup invalid headers and endpoints
// that carry a credential, one at a time and all at once: every error
// names the variable, and none shows the credential, its percent-encoded
// form or a piece of it.
func TestSetupErrorsHideCredentials(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		cfg      tracing.Config
		variable string
	}{
		{"header entry without =", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-team=a,Bearer " + credential}, tracing.Config{}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header written as HTTP", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "Authorization: Bearer " + credential}, tracing.Config{}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header colon then =", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "Authorization: Bearer " + credential + "=="}, tracing.Config{}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header bad escape", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=" + credential + "%zz"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header escape inside", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=" + credential[:4] + "%g" + credential[4:]}, tracing.Config{}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header control character", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=" + credential + "%0A"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"traces header", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": credential}, tracing.Config{}, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{"endpoint user-info", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:" + credential + "@collector:4318"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint token as user", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://" + credential + "@collector"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint password with /", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:" + credential[:4] + "/" + credential[4:] + "@collector:4318"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint password with :", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://" + credential[:4] + ":" + credential[4:] + "/@collector:4318/v1/traces"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"endpoint unparsable with user-info", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://user:" + credential + "@[::1"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"endpoint bad scheme with user-info", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://user:" + credential + "@collector"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint query", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/?api_key=" + credential}, tracing.Config{}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint fragment, bad scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "tcp://collector:4318#" + credential}, tracing.Config{}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"Config.Endpoint user-info", nil, tracing.Config{Endpoint: "http://user:" + credential + "@collector:4318/v1/traces"}, "Config.Endpoint"},
		{"all at once", map[string]string{
			"OTEL_EXPORTER_OTLP_HEADERS":        "Authorization: Bearer " + credential,
			"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "k=" + credential + "%zz",
			"OTEL_EXPORTER_OTLP_ENDPOINT":       "http://u:" + credential + "@c",
			"OTEL_TRACES_EXPORTER":              "zipkin",
		}, tracing.Config{}, "OTEL_TRACES_EXPORTER"},
	}
	pieces := []string{credential, url.PathEscape(credential), credential[:6], credential[len(credential)-6:]}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			cfg := tt.cfg
			cfg.NoGlobal = true
			p, err := tracing.Setup(t.Context(), cfg)
			if p != nil || !errors.Is(err, tracing.ErrInvalidEnv) || !strings.Contains(err.Error(), tt.variable) {
				t.Fatalf("Setup = %v, %v: want ErrInvalidEnv naming %s", p, err, tt.variable)
			}
			for _, piece := range pieces {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("error shows %q: %v", piece, err)
				}
			}
		})
	}
	t.Run("a plain endpoint is still shown", func(t *testing.T) {
		setenv(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "tcp://collector:4318"})
		_, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true})
		if err == nil || !strings.Contains(err.Error(), `"tcp://collector:4318"`) {
			t.Errorf("Setup error = %v, want the endpoint shown", err)
		}
	})
}

func TestSetupEnvMatrix(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		cfg         tracing.Config
		wantSampled bool
		wantFields  []string
		wantRes     map[string]string
	}{
		{
			name: "nothing set", wantSampled: true, wantFields: []string{"baggage", "traceparent", "tracestate"},
			wantRes: map[string]string{"service.name": "unknown_service:tracing.test"},
		},
		{
			name: "config fills in", cfg: tracing.Config{ServiceName: "orders", ServiceVersion: "1.2.3", Environment: "staging",
				Attributes: []attribute.KeyValue{attribute.String("team", "core")}},
			wantSampled: true, wantFields: []string{"baggage", "traceparent", "tracestate"},
			wantRes: map[string]string{"service.name": "orders", "service.version": "1.2.3", "deployment.environment.name": "staging", "team": "core"},
		},
		{
			name: "env wins over config", cfg: tracing.Config{ServiceName: "orders", Attributes: []attribute.KeyValue{attribute.String("team", "core")}},
			env:         map[string]string{"OTEL_SERVICE_NAME": "billing", "OTEL_RESOURCE_ATTRIBUTES": "team=pay%20ments, region = eu ,service.name=ignored"},
			wantSampled: true, wantFields: []string{"baggage", "traceparent", "tracestate"},
			wantRes: map[string]string{"service.name": "billing", "team": "pay ments", "region": "eu"},
		},
		{
			name: "resource service.name without OTEL_SERVICE_NAME", cfg: tracing.Config{ServiceName: "orders"},
			env:         map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"},
			wantSampled: true, wantFields: []string{"baggage", "traceparent", "tracestate"},
			wantRes: map[string]string{"service.name": "from-attrs"},
		},
		{name: "always_off", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{name: "parentbased_always_off", env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{name: "ratio 0", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}, wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{name: "always_on", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, wantSampled: true, wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{name: "parentbased ratio 1", env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1"}, wantSampled: true, wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{name: "sampler env wins over config", cfg: tracing.Config{Sampler: sdktrace.AlwaysSample()}, env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{name: "config sampler", cfg: tracing.Config{Sampler: sdktrace.NeverSample()}, wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{name: "tracecontext only", env: map[string]string{"OTEL_PROPAGATORS": "tracecontext"}, wantSampled: true, wantFields: []string{"traceparent", "tracestate"}},
		{name: "no propagation", env: map[string]string{"OTEL_PROPAGATORS": "none"}, wantSampled: true},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none"}, wantSampled: true, wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{name: "disabled false", env: map[string]string{"OTEL_SDK_DISABLED": "FALSE"}, wantSampled: true, wantFields: []string{"baggage", "traceparent", "tracestate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			c := &collector{}
			cfg := tt.cfg
			cfg.NoGlobal, cfg.SpanExporters = true, []sdktrace.SpanExporter{c}
			p, err := tracing.Setup(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
			span.End()
			if err := p.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := len(c.Spans()) == 1; got != tt.wantSampled {
				t.Fatalf("exported %d spans, want sampled=%v", len(c.Spans()), tt.wantSampled)
			}
			fields := p.Propagator().Fields()
			slices.Sort(fields)
			if !slices.Equal(fields, tt.wantFields) {
				t.Errorf("propagator fields = %v, want %v", fields, tt.wantFields)
			}
			if !tt.wantSampled {
				return
			}
			res := map[string]string{}
			for _, kv := range c.Spans()[0].Resource().Attributes() {
				res[string(kv.Key)] = kv.Value.String()
			}
			for k, v := range tt.wantRes {
				if res[k] != v {
					t.Errorf("resource %s = %q, want %q", k, res[k], v)
				}
			}
			for _, k := range []string{"host.name", "process.pid", "process.runtime.name", "telemetry.sdk.language"} {
				if res[k] == "" {
					t.Errorf("resource lacks %s: %v", k, res)
				}
			}
			if _, ok := res["process.command_args"]; ok {
				t.Error("resource carries process.command_args, which may hold secrets")
			}
		})
	}
}

// TestSetupExportsOverOTLP runs Setup with only the environment set and
// checks what a real OTLP/HTTP receiver decodes.
func TestSetupExportsOverOTLP(t *testing.T) {
	tests := []struct {
		name string
		env  func(endpoint string) map[string]string
	}{
		{"base endpoint", func(e string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": e}
		}},
		{"traces endpoint and explicit exporter", func(e string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": e + "/v1/traces", "OTEL_TRACES_EXPORTER": "otlp",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := otlptest.NewReceiver(t)
			env := tt.env(r.Endpoint())
			env["OTEL_SERVICE_NAME"] = "checkout"
			env["OTEL_EXPORTER_OTLP_HEADERS"] = "authorization=Bearer%20abc,x-team=a"
			env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = "x-team=b"
			setenv(t, env)
			p, err := tracing.Setup(t.Context(), tracing.Config{ServiceName: "ignored", NoGlobal: true})
			if err != nil {
				t.Fatal(err)
			}
			h := tracing.Middleware(tracing.TracerProvider(p.TracerProvider()), tracing.Propagator(p.Propagator()))(testMux())
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/5", nil))

			// The caller's context is already cancelled: Shutdown must still flush.
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := p.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			spans := r.Spans()
			if len(spans) != 1 {
				t.Fatalf("receiver got %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name != "GET /users/{id}" || s.Kind != "server" || s.Service != "checkout" || s.Attributes["http.route"] != "/users/{id}" {
				t.Errorf("span = %+v", s)
			}
			hs := r.Headers()
			if hs[0].Get("Authorization") != "Bearer abc" || hs[0].Get("X-Team") != "b" {
				t.Errorf("export headers = %v, want Authorization and the traces-specific X-Team", hs[0])
			}
		})
	}
}

// TestSetupDefaultEndpoint: OTEL_TRACES_EXPORTER=otlp and no endpoint
// sends OTLP/HTTP to http://localhost:4318, as the specification says,
// checked with a receiver on that port when it is free (env_test.go checks
// the resolved endpoint either way).
func TestSetupDefaultEndpoint(t *testing.T) {
	r, err := otlptest.ListenReceiver(t, "127.0.0.1:4318")
	if err != nil {
		t.Skipf("the default OTLP port is taken (a collector on this machine?): %v", err)
	}
	setenv(t, map[string]string{"OTEL_TRACES_EXPORTER": "otlp"})
	p, err := tracing.Setup(t.Context(), tracing.Config{ServiceName: "default-endpoint", NoGlobal: true})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
	span.End()
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if spans := r.Spans(); len(spans) != 1 || spans[0].Service != "default-endpoint" {
		t.Errorf("receiver on localhost:4318 got %v, want the one span", spans)
	}
}

func TestSetupQuietByDefault(t *testing.T) {
	setenv(t, nil)
	var logged testenv.LogBuffer
	prev := log.Writer()
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(prev) })

	p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
	if tracing.TraceID(ctx) == "" {
		t.Error("no trace ID with nothing configured; logs and the next service need one")
	}
	if span.IsRecording() {
		t.Error("a root span is recorded although nothing is exported")
	}
	span.End()
	// A caller that sampled the trace keeps it sampled through here.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1},
		SpanID:     trace.SpanID{2},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	_, child := p.TracerProvider().Tracer("t").Start(trace.ContextWithRemoteSpanContext(t.Context(), parent), "op")
	if !child.SpanContext().IsSampled() {
		t.Error("the span of a sampled caller is not sampled: the trace would break at this service")
	}
	child.End()
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if logged.String() != "" {
		t.Errorf("logged %q, want nothing", logged.String())
	}
}

func TestSetupConsoleExporter(t *testing.T) {
	setenv(t, map[string]string{"OTEL_TRACES_EXPORTER": "console"})
	var out testenv.LogBuffer
	p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true, ConsoleOutput: &out})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "console-op")
	span.End()
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"Name":"console-op"`) {
		t.Errorf("console output = %q, want the span", out.String())
	}
}

func TestSetupGRPCProtocol(t *testing.T) {
	// Nothing listens there; with no span to send, Setup and Shutdown must
	// still succeed and leave no goroutine behind (goleak checks).
	setenv(t, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
	p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestSetupDisabled(t *testing.T) {
	r := otlptest.NewReceiver(t)
	setenv(t, map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": r.Endpoint()})
	c := &collector{}
	p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true, SpanExporters: []sdktrace.SpanExporter{c}})
	if err != nil {
		t.Fatal(err)
	}
	h := tracing.Middleware(tracing.TracerProvider(p.TracerProvider()))(testMux())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/5", nil))
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(c.Spans()) != 0 || len(r.Spans()) != 0 {
		t.Errorf("disabled SDK exported %d and sent %d spans, want none", len(c.Spans()), len(r.Spans()))
	}
}

func TestShutdown(t *testing.T) {
	errStop := errors.New("exporter stuck")
	tests := []struct {
		name    string
		stopErr error
	}{
		{"clean", nil},
		{"exporter error is returned", errStop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, nil)
			c := &collector{shutdown: tt.stopErr}
			p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true, ShutdownTimeout: time.Second, SpanExporters: []sdktrace.SpanExporter{c}})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
				span.End()
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
			defer cancel()
			<-ctx.Done()
			first := p.Shutdown(ctx)
			second := p.Shutdown(ctx)
			if !errors.Is(first, tt.stopErr) || (tt.stopErr == nil && first != nil) {
				t.Errorf("Shutdown = %v, want %v", first, tt.stopErr)
			}
			if !errors.Is(second, tt.stopErr) || (first == nil) != (second == nil) {
				t.Errorf("second Shutdown = %v, want the first's result %v", second, first)
			}
			if len(c.Spans()) != 3 {
				t.Errorf("exported %d spans with an expired context, want 3", len(c.Spans()))
			}
		})
	}
}

func TestSetupToleratesSchemaConflict(t *testing.T) {
	setenv(t, nil)
	old := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.4.0", attribute.String("cloud.region", "eu-west-1"))
	c := &collector{}
	p, err := tracing.Setup(t.Context(), tracing.Config{Resource: old, NoGlobal: true, SpanExporters: []sdktrace.SpanExporter{c}})
	if err != nil {
		t.Fatalf("Setup with a conflicting schema URL: %v", err)
	}
	_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
	span.End()
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	res := c.Spans()[0].Resource()
	if v, _ := res.Set().Value("cloud.region"); v.AsString() != "eu-west-1" {
		t.Errorf("resource %v lost cloud.region", res)
	}
}

// TestSetupGlobal checks that the zero-option Middleware and Transport use
// what Setup installs globally.
func TestSetupGlobal(t *testing.T) {
	setenv(t, nil)
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	c := &collector{}
	p, err := tracing.Setup(t.Context(), tracing.Config{ServiceName: "global", SpanExporters: []sdktrace.SpanExporter{c}})
	if err != nil {
		t.Fatal(err)
	}
	var got http.Header
	down := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer down.Close()
	client := &http.Client{Transport: tracing.Transport(nil)}
	defer client.CloseIdleConnections()
	h := tracing.Middleware()(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", down.URL, nil)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(c.Spans()) != 2 || got.Get("Traceparent") == "" {
		t.Errorf("spans %d, traceparent %q: want a server and a client span and the header", len(c.Spans()), got.Get("Traceparent"))
	}
}

type failingExporter struct{ collector }

var errExport = errors.New("collector down")

func (*failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return errExport }

// jsonLogger logs JSON lines into out.
func jsonLogger(out *testenv.LogBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestSetupLogsExportFailures: a background export failure reaches
// Config.Logger as "trace export failed", with NoGlobal too (Setup's
// exporters report it, not OTel's global handler), while ForceFlush
// returns its own failure to its caller instead of logging it.
func TestSetupLogsExportFailures(t *testing.T) {
	setenv(t, nil)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "1") // export in the background within a millisecond
	var out testenv.LogBuffer
	p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true, Logger: jsonLogger(&out),
		SpanExporters: []sdktrace.SpanExporter{&failingExporter{}}})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
	span.End()
	line := out.WaitLine(t, "trace export failed", 10*time.Second)
	if !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, errExport.Error()) {
		t.Errorf("line %s, want a warning with the exporter's error", line)
	}

	if err := p.Shutdown(t.Context()); err != nil && !errors.Is(err, errExport) {
		t.Errorf("Shutdown = %v", err)
	}

	// A provider whose batches wait an hour, so that ForceFlush, not the
	// background, exports the span (with a 1 ms delay, the background
	// could take it first on a loaded machine, and ForceFlush had
	// nothing left to fail on).
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	out.Reset()
	p, err = tracing.Setup(t.Context(), tracing.Config{NoGlobal: true, Logger: jsonLogger(&out),
		SpanExporters: []sdktrace.SpanExporter{&failingExporter{}}})
	if err != nil {
		t.Fatal(err)
	}
	_, span = p.TracerProvider().Tracer("t").Start(t.Context(), "op")
	span.End()
	if err := p.ForceFlush(t.Context()); !errors.Is(err, errExport) {
		t.Errorf("ForceFlush = %v, want %v", err, errExport)
	}
	if err := p.Shutdown(t.Context()); err != nil && !errors.Is(err, errExport) {
		t.Errorf("Shutdown = %v", err)
	}
	if strings.Contains(out.String(), "trace export failed") {
		t.Errorf("a failed flush was logged as well as returned: %s", out.String())
	}
}

// TestSetupLogsClientBaggage: a client's oversize baggage header, sent
// through a real server many times, is one info line that says so, not
// "trace export failed"; the request is served.
func TestSetupLogsClientBaggage(t *testing.T) {
	setenv(t, nil)
	var out testenv.LogBuffer
	p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true, Logger: jsonLogger(&out)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	srv := httptest.NewServer(tracing.Middleware(tracing.TracerProvider(p.TracerProvider()), tracing.Propagator(p.Propagator()))(testMux()))
	t.Cleanup(srv.Close)
	for range 20 {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/users/5", nil)
		req.Header.Set("Baggage", "k="+strings.Repeat("v", 9000))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	lines := out.JSON(t)
	if len(lines) != 1 || lines[0]["msg"] != "invalid baggage header from a client, ignored" || lines[0]["level"] != "INFO" {
		t.Fatalf("logged %v, want one info line about the client's baggage", lines)
	}
}

// TestSetupGlobalErrorHandler: without NoGlobal, whatever else OTel
// reports reaches Config.Logger under a message of its own; with NoGlobal
// the global handler is left alone.
func TestSetupGlobalErrorHandler(t *testing.T) {
	setenv(t, nil)
	prevTP, prevProp, prevEH := otel.GetTracerProvider(), otel.GetTextMapPropagator(), otel.GetErrorHandler()
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		otel.SetErrorHandler(prevEH)
	})
	var out testenv.LogBuffer
	p, err := tracing.Setup(t.Context(), tracing.Config{Logger: jsonLogger(&out)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	otel.Handle(errors.New("something in the SDK"))
	otel.Handle(errors.New("traces export: collector said no"))
	lines := out.JSON(t)
	if len(lines) != 2 || lines[0]["msg"] != "OpenTelemetry error" || lines[1]["msg"] != "trace export failed" {
		t.Fatalf("logged %v, want an OpenTelemetry error and an export failure", lines)
	}

	out.Reset()
	var quiet testenv.LogBuffer
	q, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true, Logger: jsonLogger(&quiet)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Shutdown(context.Background()) })
	otel.Handle(errors.New("baggage: after a NoGlobal Setup")) // a kind the first Setup's Logger has not had yet
	if quiet.String() != "" || !strings.Contains(out.String(), "after a NoGlobal Setup") {
		t.Errorf("NoGlobal took the global handler: %q, the first still has %q", quiet.String(), out.String())
	}
}
