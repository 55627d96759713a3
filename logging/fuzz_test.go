package logging

import (
	"strings"
	"testing"
)

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
