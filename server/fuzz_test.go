package server

import (
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzValidToken: the validator reads whatever a token file holds. It
// never panics, accepts only visible ASCII of bounded length, and its
// error is one of three fixed texts, so it cannot quote the content.
func FuzzValidToken(f *testing.F) {
	fixed := map[string]bool{}
	for _, s := range []string{"", strings.Repeat("x", maxToken+1), strings.Repeat(" ", minToken)} {
		fixed[ValidToken([]byte(s)).Error()] = true
	}
	for _, s := range []string{"", tokenA, "tiny-tok", "admin token with spaces", "\x00\x01\xfe\xff-garbage-garbage", strings.Repeat("a", maxToken+1), "日本語のトークン日本語のトークン"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ValidToken(b)
		if err == nil {
			if len(b) < minToken || len(b) > maxToken {
				t.Fatalf("accepted %d bytes", len(b))
			}
			for _, c := range b {
				if c <= ' ' || c > '~' {
					t.Fatalf("accepted byte %#x", c)
				}
			}
			return
		}
		if !fixed[err.Error()] {
			t.Fatalf("error %q is not one of the fixed texts %v", err, fixed)
		}
	})
}

// FuzzProfileDuration: ?seconds= is whatever a client sends. The profile
// it allows is above zero and below the limit, whatever the text (NaN,
// Inf, exponents, hex floats, underscores); everything else is refused
// with a message that names the limit. Nothing panics or overflows.
func FuzzProfileDuration(f *testing.F) {
	for _, s := range []string{"", "30", "0.2", "NaN", "-Inf", "+Inf", "1e300", "9.3e9", "999999", "0x1p-2", "1_0", "-0", "44.999999999", "45"} {
		f.Add(s)
	}
	const limit = 45 * time.Second
	f.Fuzz(func(t *testing.T, v string) {
		d, problem := profileDuration(v, 30, limit, "profile")
		if problem != "" {
			if d != 0 || !strings.Contains(problem, "45s") {
				t.Fatalf("profileDuration(%q) = %v, %q: a refusal must name the limit", v, d, problem)
			}
			return
		}
		if d <= 0 || d >= limit {
			t.Fatalf("profileDuration(%q) = %v, outside (0, %v)", v, d, limit)
		}
	})
}

// FuzzLocalURL: localURL reads ADMIN_ADDR as the operator wrote it. It
// never panics; what it accepts is an http URL on the address's port,
// on the loopback when the address names no host or an unspecified one.
func FuzzLocalURL(f *testing.F) {
	for _, s := range []string{":9090", "0.0.0.0:9090", "[::]:9090", "10.0.0.7:9090", "localhost:9090", "9090", "", "[::1", "a:b:c", "host:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		got, err := localURL(addr, "/readyz")
		if err != nil {
			return
		}
		_, port, _ := net.SplitHostPort(addr)
		if !strings.HasPrefix(got, "http://") || !strings.HasSuffix(got, ":"+port+"/readyz") {
			t.Errorf("localURL(%q) = %q", addr, got)
		}
		if host, _, _ := net.SplitHostPort(addr); host == "" && !strings.HasPrefix(got, "http://127.0.0.1:") {
			t.Errorf("localURL(%q) = %q, want the loopback", addr, got)
		}
	})
}
