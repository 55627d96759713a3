package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

func TestValidPassword(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string // a part of the error; "" for none
	}{
		{"plain", "correct-horse-battery-staple", ""},
		{"spaces and punctuation", `p a$$ 'w"ord\`, ""},
		{"unicode", "mot-de-passe-été", ""},
		{"japanese", "日本語のパスワード", ""},
		{"emoji", "hunter2-🦀", ""},
		{"right to left with digits", "שלום123", ""},
		{"longest", strings.Repeat("x", maxPassword), ""},
		{"too long", strings.Repeat("x", maxPassword+1), "longer than"},
		{"binary", "\x00\x01\xfe\xff", "not UTF-8"},
		{"not UTF-8", "pass\xffword", "not UTF-8"},
		{"NUL inside", "pass\x00word", "control character"},
		{"line inside", "pass\nword", "control character"},
		{"escape sequence", "\x1b[31mred", "control character"},
		{"C1 control", "pass\u0085word", "control character"},
		{"ligature", "\ufb01sh-and-chips", "NFKC"},
		{"roman numeral", "chapter-\u216b", "NFKC"},
		{"full-width letter", "\uff21dmin-password", "NFKC"},
		{"decomposed accent", "e\u0301te-password", "NFKC"},
		{"zero-width space", "pass\u200bword", "character 5 is an invisible character"},
		{"soft hyphen", "pass\u00adword", "invisible character"},
		{"byte order mark", "\ufeffpassword", "invisible character"},
		{"no-break space", "pass\u00a0word", "non-ASCII space"},
		{"ideographic space", "pass\u3000word", "non-ASCII space"},
		{"private use", "pass\ue000word", "prohibits"},
		{"right-to-left override", "pass\u202eword", "prohibits"},
		{"non-character", "pass\ufffeword", "prohibits"},
		{"replacement character", "pass\ufffdword", "prohibits"},
		{"tag", "pass\U000e0041word", "prohibits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validPassword([]byte(tt.content))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("validPassword: %v, want nil", err)
			case tt.wantErr == "":
				return
			case err == nil:
				t.Fatalf("validPassword accepted it, want an error about %q", tt.wantErr)
			case !errors.Is(err, errBadPassword):
				t.Errorf("error %v does not wrap errBadPassword", err)
			case !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzValidPassword: whatever the password file holds, the check never
// panics and its error never quotes the content; what it accepts is
// printable UTF-8 of bounded length that pgx sends to PostgreSQL exactly
// as the file holds it (pgx normalises with PRECIS, an implementation
// independent of ours, and falls back to the raw text when PRECIS refuses
// it) and that PostgreSQL's SASLprep keeps as it is (NFKC-normal, nothing
// SASLprep maps or prohibits).
func FuzzValidPassword(f *testing.F) {
	for _, s := range []string{"", "secret", "pass\x00word", "\xff\xfe", strings.Repeat("a", maxPassword+1),
		"日本語のパスワード", "tab\there", "\ufb01", "\u216b", "a\u200bb", "e\u0301", "\u00a0", "\ue000", "שלום123", "🦀"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := validPassword(b)
		if err != nil {
			if !errors.Is(err, errBadPassword) {
				t.Fatalf("error %v does not wrap errBadPassword", err)
			}
			if len(b) >= 4 && strings.Contains(err.Error(), string(b)) {
				t.Fatalf("error %q quotes the content", err)
			}
			return
		}
		if len(b) > maxPassword || !utf8.Valid(b) || bytes.ContainsFunc(b, unicode.IsControl) {
			t.Fatalf("accepted %q", b)
		}
		if !norm.NFKC.IsNormal(b) {
			t.Fatalf("accepted %q, which NFKC changes", b)
		}
		if bytes.ContainsFunc(b, func(r rune) bool {
			return unicode.In(r, saslprepSpace, saslprepNothing, saslprepProhibited)
		}) {
			t.Fatalf("accepted %q, which SASLprep maps or prohibits", b)
		}
		if sent, err := precis.OpaqueString.Bytes(b); err == nil && !bytes.Equal(sent, b) {
			t.Fatalf("accepted %q, which pgx would send as %q", b, sent)
		}
	})
}
