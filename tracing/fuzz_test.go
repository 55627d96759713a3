package tracing

import (
	"regexp"
	"strings"
	"testing"
)

// headerErr is every form a parseHeaders error takes: the only part taken
// from the input is a valid header name, never a value.
var headerErr = regexp.MustCompile("^(entry [0-9]+ is not name=value with a valid header name|value of [!#$%&'*+.^_`|~0-9A-Za-z-]+: invalid percent-encoding|value of [!#$%&'*+.^_`|~0-9A-Za-z-]+ contains a control character)$")

func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"", "a=b", "authorization=Bearer%20x,x-team=a", "bad header=1", "k=%zz", "k=a%0Ab", ",,="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h, err := parseHeaders(v)
		if err != nil {
			if !headerErr.MatchString(err.Error()) {
				t.Fatalf("parseHeaders(%q) error %q may quote a value", v, err)
			}
			return
		}
		for k, val := range h {
			if !validHeaderName(k) || !validHeaderValue(val) {
				t.Errorf("parseHeaders(%q) accepted %q: %q", v, k, val)
			}
		}
	})
}

func FuzzParseResourceAttributes(f *testing.F) {
	for _, s := range []string{"", "a=b", "team=pay%20ments, region = eu", "team", "=x", "k=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		kvs, err := parseResourceAttributes(v)
		if err != nil {
			return
		}
		for _, kv := range kvs {
			if kv.Key == "" || strings.ContainsAny(string(kv.Key), ",=") {
				t.Errorf("parseResourceAttributes(%q) produced key %q", v, kv.Key)
			}
		}
	})
}

func FuzzParseSampler(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {"traceidratio", "0.5"}, {"parentbased_traceidratio", "NaN"}, {"always_on", "x"}, {"nope", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, arg string) {
		s, err := parseSampler(name, arg, nil)
		if (s == nil) == (err == nil) {
			t.Errorf("parseSampler(%q, %q) = %v, %v: want exactly one of sampler and error", name, arg, s, err)
		}
	})
}

func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"", "example.com", "example.com:8080", "[::1]:443", "[::1]", "1.2.3.4:99999", ":80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		host, port := splitHostPort(v)
		if port < -1 || port > 65535 || len(host) > len(v) {
			t.Errorf("splitHostPort(%q) = %q, %d", v, host, port)
		}
	})
}
