package server

import (
	"strings"
	"testing"
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
