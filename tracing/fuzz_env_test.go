package tracing

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// The OTEL_* parsers not fuzzed in fuzz_test.go: whatever a deployment
// puts in the variable, each returns a value or an error, never panics,
// and never accepts what the next stage would choke on.

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"", "http://collector:4318", "https://c.example/otlp/", "collector:4318", "http://", "http://[::1]:4318", "ftp://x", "http://a b", "http://%zz", "http://user:pw@c:4318", "http://c/?api_key=x"} {
		f.Add(s, false, protocolHTTPProtobuf)
		f.Add(s, true, "grpc")
	}
	f.Fuzz(func(t *testing.T, v string, signalSpecific bool, protocol string) {
		got, err := parseEndpoint(v, signalSpecific, protocol)
		if err != nil {
			// Only fixed texts: nothing of the value, which can hold
			// credentials, ever reaches the error.
			switch err.Error() {
			case "not a valid URL", "want an http:// or https:// URL", "missing host",
				"user-info and query are not sent to the collector: put credentials in OTEL_EXPORTER_OTLP_HEADERS":
			default:
				t.Fatalf("parseEndpoint(%q) error %q may quote the value", v, err)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("parseEndpoint(%q) = %q, not an http(s) URL with a host: %v", v, got, err)
		}
		if u.User != nil || u.RawQuery != "" {
			t.Fatalf("parseEndpoint(%q) = %q, with user-info or a query the exporters would drop", v, got)
		}
		if protocol == protocolHTTPProtobuf && !signalSpecific && !strings.HasSuffix(u.Path, "/v1/traces") {
			t.Fatalf("parseEndpoint(%q) = %q, without the signal path", v, got)
		}
	})
}

func FuzzParseExporters(f *testing.F) {
	for _, s := range []string{"", "otlp", "otlp,console", "none", "none,otlp", " otlp , ", "zipkin", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseExporters(v)
		if err != nil {
			return
		}
		for _, e := range got {
			if e != "otlp" && e != "console" {
				t.Fatalf("parseExporters(%q) = %q", v, got)
			}
		}
		if slices.Contains(got, "none") {
			t.Fatalf("parseExporters(%q) kept none: %q", v, got)
		}
	})
}

func FuzzParsePropagators(f *testing.F) {
	for _, s := range []string{"", "tracecontext", "tracecontext,baggage", "none", "b3", "tracecontext,tracecontext", " baggage ", "x,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p, err := parsePropagators(v, nil)
		if (p == nil) == (err == nil) {
			t.Fatalf("parsePropagators(%q) = %v, %v: want exactly one of propagator and error", v, p, err)
		}
	})
}

func FuzzParseBool(f *testing.F) {
	for _, s := range []string{"", "true", "TRUE", "False", "1", "yes"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		b, err := parseBool(v)
		switch strings.ToLower(v) {
		case "true":
			if !b || err != nil {
				t.Fatalf("parseBool(%q) = %v, %v", v, b, err)
			}
		case "", "false":
			if b || err != nil {
				t.Fatalf("parseBool(%q) = %v, %v", v, b, err)
			}
		default:
			if b || err == nil {
				t.Fatalf("parseBool(%q) = %v, %v: want an error", v, b, err)
			}
		}
	})
}
