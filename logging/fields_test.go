package logging

import (
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// encoded returns the length of s as zap's JSON encoder writes it, quotes
// left out.
func encoded(t testing.TB, s string) int {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{})
	buf, err := enc.EncodeEntry(zapcore.Entry{}, []zap.Field{zap.String("k", s)})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Free()
	return len(buf.String()) - len(`{"k":""}`+"\n")
}

func TestBounded(t *testing.T) {
	const limit = 100
	tests := []struct {
		name string
		in   string
		cut  bool
	}{
		{"short", "/items/7", false},
		{"exactly the limit", strings.Repeat("a", limit), false},
		{"one over", strings.Repeat("a", limit+1), true},
		{"quotes escape to two bytes", strings.Repeat(`"`, limit/2), false},
		{"quotes over", strings.Repeat(`"`, limit/2+1), true},
		{"control bytes escape to six", strings.Repeat("\x01", 20), true},
		{"invalid UTF-8 escapes to six", strings.Repeat("\xff", 17), true},
		{"multi-byte runes stay whole", strings.Repeat("é", 60), true},
		{"mixed", strings.Repeat("a\tb\"c\x00日\xfe", 40), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bounded(tt.in, limit)
			if n := encoded(t, got); n > limit {
				t.Errorf("encoded length %d, over %d", n, limit)
			}
			if cut := got != tt.in; cut != tt.cut {
				t.Fatalf("cut %v, want %v: %q", cut, tt.cut, got)
			}
			if !tt.cut {
				return
			}
			prefix, ok := strings.CutSuffix(got, truncated)
			if !ok || !strings.HasPrefix(tt.in, prefix) {
				t.Fatalf("%q is not a prefix of the input and the marker", got)
			}
			if utf8.ValidString(tt.in) && !utf8.ValidString(prefix) {
				t.Errorf("cut inside a rune: %q", prefix)
			}
			// The cut is the longest that fits.
			if next := len(prefix) + 1; next <= len(tt.in) && utf8.ValidString(tt.in[:next]) && encoded(t, tt.in[:next]+truncated) <= limit {
				t.Errorf("cut at %d, but %d fits too", len(prefix), next)
			}
		})
	}
}

// FuzzBounded lives here, not in fuzz_test.go: it needs the package's
// unexported bounded, and fuzz_test.go is an external test package.
func FuzzBounded(f *testing.F) {
	f.Add("/items/7", 64)
	f.Add(strings.Repeat("\xff\"\x01é", 100), 1024)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < len(truncated) || limit > 1<<16 {
			return
		}
		got := bounded(s, limit)
		if n := encoded(t, got); n > limit {
			t.Fatalf("bounded(%q, %d) encodes to %d bytes", s, limit, n)
		}
		if got != s && !strings.HasSuffix(got, truncated) {
			t.Fatalf("cut without the marker: %q", got)
		}
	})
}
