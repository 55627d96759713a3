package tracing

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Why not go.opentelemetry.io/contrib/exporters/autoexport: it follows
// the specification's default (OTLP when OTEL_TRACES_EXPORTER is unset),
// so a service started without a collector logs an export error every few
// seconds, where Setup exports nothing until an endpoint or exporter is
// configured; its errors repeat the offending values, header values
// included, where these never show one; and it brings the metric and log
// exporters of every protocol into the build. The parsing here is the
// specification's, held to it by env_test.go and the fuzz targets of fuzz_env_test.go.
//
// ErrInvalidEnv is wrapped by every error about an OTEL_* variable; the
// message names the variable and shows its value, except where the value
// can hold a credential: no header value (OTEL_EXPORTER_OTLP_HEADERS
// carries API keys) and no user-info or query of an endpoint URL is ever
// shown.
var ErrInvalidEnv = errors.New("tracing: invalid environment variable")

// The variables Setup reads.
const (
	envDisabled          = "OTEL_SDK_DISABLED"
	envServiceName       = "OTEL_SERVICE_NAME"
	envResource          = "OTEL_RESOURCE_ATTRIBUTES"
	envExporter          = "OTEL_TRACES_EXPORTER"
	envEndpoint          = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint    = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol          = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol    = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envHeaders           = "OTEL_EXPORTER_OTLP_HEADERS"
	envTracesHeaders     = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	envSampler           = "OTEL_TRACES_SAMPLER"
	envSamplerArg        = "OTEL_TRACES_SAMPLER_ARG"
	envPropagators       = "OTEL_PROPAGATORS"
	protocolHTTPProtobuf = "http/protobuf"
	protocolGRPC         = "grpc"
)

// The endpoints the specification names when none is configured: both
// plain http on localhost.
const (
	defaultHTTPEndpoint = "http://localhost:4318/v1/traces"
	defaultGRPCEndpoint = "http://localhost:4317"
)

func envError(name, value string, err error) error {
	return fmt.Errorf("%w %s=%q: %w", ErrInvalidEnv, name, value, err)
}

// secretEnvError is envError for a variable whose value may hold a
// credential: the value is left out, and err must not quote it either.
func secretEnvError(name string, err error) error {
	return fmt.Errorf("%w %s (value not shown: it may hold a credential): %w", ErrInvalidEnv, name, err)
}

// endpointError is envError for an endpoint URL: the value is shown only
// when it parses and has no user-info, query or fragment to strip (and no
// "@" anywhere, which a password containing "/" can push out of the
// user-info into the path).
func endpointError(name, value string, err error) error {
	u, perr := url.Parse(value)
	if perr != nil || strings.Contains(value, "@") || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return secretEnvError(name, err)
	}
	return envError(name, value, err)
}

// getenv returns the trimmed value of name; unset and empty are the same.
func getenv(name string) string { return strings.TrimSpace(os.Getenv(name)) }

// settings is everything Setup decides from the environment and Config.
type settings struct {
	disabled    bool
	resource    []attribute.KeyValue // from OTEL_RESOURCE_ATTRIBUTES
	serviceName string               // from OTEL_SERVICE_NAME
	exporters   []string             // "otlp", "console"; empty: none
	protocol    string
	endpoint    string // full URL of the traces endpoint; "" for the exporter's default
	headers     map[string]string
	sampler     sdktrace.Sampler
	samplerSet  bool // by OTEL_TRACES_SAMPLER or Config.Sampler
	propagator  propagation.TextMapPropagator
}

func readEnv(cfg Config, r *reporter) (settings, error) {
	var s settings
	var errs []error
	var err error

	if s.disabled, err = parseBool(getenv(envDisabled)); err != nil {
		errs = append(errs, envError(envDisabled, getenv(envDisabled), err))
	}
	s.serviceName = getenv(envServiceName)
	if s.resource, err = parseResourceAttributes(getenv(envResource)); err != nil {
		errs = append(errs, envError(envResource, getenv(envResource), err))
	}

	endpointVar, endpoint := envTracesEndpoint, getenv(envTracesEndpoint)
	signalSpecific := endpoint != ""
	if !signalSpecific {
		endpointVar, endpoint = envEndpoint, getenv(envEndpoint)
	}
	if endpoint == "" {
		endpointVar, endpoint, signalSpecific = "Config.Endpoint", cfg.Endpoint, true
	}

	protocolVar, protocol := envTracesProtocol, getenv(envTracesProtocol)
	if protocol == "" {
		protocolVar, protocol = envProtocol, getenv(envProtocol)
	}
	switch protocol {
	case "":
		s.protocol = protocolHTTPProtobuf
	case protocolHTTPProtobuf, protocolGRPC:
		s.protocol = protocol
	default:
		errs = append(errs, envError(protocolVar, protocol, errors.New(`want "http/protobuf" or "grpc"`)))
	}

	if endpoint != "" {
		if s.endpoint, err = parseEndpoint(endpoint, signalSpecific, s.protocol); err != nil {
			errs = append(errs, endpointError(endpointVar, endpoint, err))
		}
	}

	exporterVar, exporter := envExporter, getenv(envExporter)
	if exporter == "" {
		exporterVar, exporter = "Config.Exporter", cfg.Exporter
	}
	if exporter == "" && endpoint != "" {
		// An endpoint is a request to export there; with neither, stay quiet.
		exporter = "otlp"
	}
	if s.exporters, err = parseExporters(exporter); err != nil {
		errs = append(errs, envError(exporterVar, exporter, err))
	}
	if endpoint == "" {
		// The exporters' own default is https, which no local collector
		// serves; the specification says http.
		s.endpoint = defaultHTTPEndpoint
		if s.protocol == protocolGRPC {
			s.endpoint = defaultGRPCEndpoint
		}
	}

	s.headers = map[string]string{}
	for _, name := range []string{envHeaders, envTracesHeaders} {
		h, err := parseHeaders(getenv(name))
		if err != nil {
			errs = append(errs, secretEnvError(name, err))
		}
		for k, v := range h {
			s.headers[k] = v // the traces-specific variable wins
		}
	}

	if s.sampler, err = parseSampler(getenv(envSampler), getenv(envSamplerArg), cfg.Sampler); err != nil {
		errs = append(errs, err)
	}
	s.samplerSet = getenv(envSampler) != "" || cfg.Sampler != nil
	if s.propagator, err = parsePropagators(getenv(envPropagators), r); err != nil {
		errs = append(errs, envError(envPropagators, getenv(envPropagators), err))
	}
	return s, errors.Join(errs...)
}

// parseBool accepts what the OTel specification calls a boolean: "true"
// or "false" in any case; empty is false.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, errors.New(`want "true" or "false"`)
}

// parseResourceAttributes parses "key1=value1,key2=value2" with
// percent-encoded values (W3C Baggage octets).
func parseResourceAttributes(v string) ([]attribute.KeyValue, error) {
	if v == "" {
		return nil, nil
	}
	var kvs []attribute.KeyValue
	for pair := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", pair)
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("value of %s: %w", k, err)
		}
		kvs = append(kvs, attribute.String(k, dec))
	}
	return kvs, nil
}

// parseHeaders parses "name1=value1,name2=value2" with percent-encoded
// values, the format of OTEL_EXPORTER_OTLP_HEADERS. Its errors never quote
// the input: a value is an API key, and an entry that does not parse
// ("Authorization: Bearer …", a forgotten "=") may be one too. They give
// the entry's position and, once the name is known to be a header name,
// the name.
func parseHeaders(v string) (map[string]string, error) {
	h := map[string]string{}
	if v == "" {
		return h, nil
	}
	i := 0
	for pair := range strings.SplitSeq(v, ",") {
		i++
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || !validHeaderName(k) {
			return nil, fmt.Errorf("entry %d is not name=value with a valid header name", i)
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			// url's error quotes the bad escape, a piece of the value.
			return nil, fmt.Errorf("value of %s: invalid percent-encoding", k)
		}
		if !validHeaderValue(dec) {
			return nil, fmt.Errorf("value of %s contains a control character", k)
		}
		h[k] = dec
	}
	return h, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// parseEndpoint checks an OTLP endpoint URL and, for the base variable with
// http/protobuf, appends the signal path as the specification asks.
// Its errors never quote the value: url's own would, user-info included.
func parseEndpoint(v string, signalSpecific bool, protocol string) (string, error) {
	u, err := url.Parse(v)
	if err != nil {
		return "", errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("want an http:// or https:// URL")
	}
	if u.Host == "" {
		return "", errors.New("missing host")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery {
		// The exporters send to scheme://host/path and drop the rest:
		// credentials there would silently not be sent.
		return "", errors.New("user-info and query are not sent to the collector: put credentials in OTEL_EXPORTER_OTLP_HEADERS")
	}
	if protocol == protocolHTTPProtobuf && !signalSpecific {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

func parseExporters(v string) ([]string, error) {
	var out []string
	none := false
	for name := range strings.SplitSeq(v, ",") {
		switch name = strings.TrimSpace(name); name {
		case "":
		case "none":
			none = true
		case "otlp", "console":
			out = append(out, name)
		default:
			return nil, fmt.Errorf("unknown exporter %q: want otlp, console or none", name)
		}
	}
	if none && len(out) > 0 {
		return nil, errors.New(`"none" cannot be combined with other exporters`)
	}
	return out, nil
}

// parseSampler builds the sampler named by OTEL_TRACES_SAMPLER, falling
// back to fallback and then to parentbased_always_on.
func parseSampler(name, arg string, fallback sdktrace.Sampler) (sdktrace.Sampler, error) {
	ratio := 1.0
	if arg != "" && (name == "traceidratio" || name == "parentbased_traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 || r != r {
			return nil, envError(envSamplerArg, arg, errors.New("want a ratio between 0 and 1"))
		}
		ratio = r
	}
	switch name {
	case "":
		if fallback != nil {
			return fallback, nil
		}
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, envError(envSampler, name, errors.New("unknown sampler: want always_on, always_off, traceidratio or their parentbased_ forms"))
}

// parsePropagators builds the propagators OTEL_PROPAGATORS names; r
// reports a client's invalid baggage.
func parsePropagators(v string, r *reporter) (propagation.TextMapPropagator, error) {
	if v == "" {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, baggagePropagator{r: r}), nil
	}
	var ps []propagation.TextMapPropagator
	seen := map[string]bool{}
	for name := range strings.SplitSeq(v, ",") {
		name = strings.TrimSpace(name)
		if seen[name] {
			continue
		}
		seen[name] = true
		switch name {
		case "", "none":
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, baggagePropagator{r: r})
		case "b3", "b3multi", "jaeger", "xray", "ottrace":
			return nil, fmt.Errorf("propagator %q is not built in: install it with otel.SetTextMapPropagator after Setup", name)
		default:
			return nil, fmt.Errorf("unknown propagator %q: want tracecontext, baggage or none", name)
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...), nil
}
