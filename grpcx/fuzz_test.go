package grpcx

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSplitMethod: whatever method name a client sends, splitting it
// never panics, and a split joins back to the name with a non-empty
// service and a method free of '/'.
func FuzzSplitMethod(f *testing.F) {
	for _, s := range []string{"/catalog.v1.Catalog/GetProduct", "/a/b", "", "/", "//", "/a/", "//b", "a/b", "/a/b/c", "/\xff/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, full string) {
		service, method, ok := splitMethod(full)
		if !ok {
			return
		}
		if "/"+service+"/"+method != full || service == "" || method == "" || strings.Contains(method, "/") {
			t.Fatalf("splitMethod(%q) = %q, %q", full, service, method)
		}
	})
}

// FuzzBounded: a cut value is valid UTF-8 when its input was, and never
// longer than the bound plus the marker.
func FuzzBounded(f *testing.F) {
	f.Add("héllo wörld", 3)
	f.Add(strings.Repeat("é", 100), 7)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got := bounded(s, n)
		if len(got) > n+len("...[truncated]") {
			t.Fatalf("bounded(%q, %d) = %d bytes", s, n, len(got))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("bounded(%q, %d) = %q, not valid UTF-8", s, n, got)
		}
	})
}
