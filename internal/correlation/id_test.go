package correlation

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"empty", "", false},
		{"one character", "a", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"129 characters", strings.Repeat("a", 129), false},
		{"space", "abc def", false},
		{"CR LF", "abc\r\nX-Injected: 1", false},
		{"newline alone", "abc\n", false},
		{"tab", "a\tb", false},
		{"quote", `a"b`, false},
		{"unicode", "réquest-1", false},
		{"unicode look-alike dash", "abc\u2010def", false},
		{"NUL", "a\x00b", false},
		{"slash", "a/b", false},
		{"valid UUID", "0190f1f4-8f1a-7c3e-9b1d-2a3b4c5d6e7f", true},
		{"valid custom ID", "svc-a:req_42.retry-1", true},
		{"all allowed punctuation", "._:-", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Valid(tt.id); got != tt.want {
				t.Fatalf("Valid(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestNewIDIsUUIDv7(t *testing.T) {
	seen := make(map[string]bool)
	before := time.Now()
	for range 100 {
		id := New(time.Now())
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("New() = %q: %v, version %d, variant %v", id, err, u.Version(), u.Variant())
		}
		if ms, _ := u.Time().UnixTime(); ms < before.Unix() || ms > time.Now().Unix()+1 {
			t.Fatalf("New() = %q carries time %d s, not now", id, ms)
		}
		if !Valid(id) {
			t.Fatalf("New() = %q, which the validator rejects", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

// FuzzValidID checks the byte loop against the rule it implements, written
// the slow way.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"", "a", "abc-123", "a b", "\r\n", "é", strings.Repeat("x", 129), "0190f1f4-8f1a-7c3e-9b1d-2a3b4c5d6e7f"} {
		f.Add(s)
	}
	const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-"
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) >= 1 && len(s) <= 128
		for i := 0; i < len(s) && want; i++ {
			want = strings.IndexByte(allowed, s[i]) >= 0
		}
		if got := Valid(s); got != want {
			t.Fatalf("Valid(%q) = %v, want %v", s, got, want)
		}
	})
}
