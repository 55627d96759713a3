package routertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocumented: a marked line missing from the README or from go doc is
// reported; a tree where they agree gives nothing to report.
func TestDocumented(t *testing.T) {
	const line = `r.Use(prodready.RouteFunc(func(r *http.Request) string { return route(r) }))`
	testFile := "package x\n\nfunc f() {\n\t// Documented:\n\t" + line + "\n}\n"
	goDoc := "package prodready\n\n// RouteFunc names routes:\n//\n//\t" + line + "\nfunc RouteFunc() {}\n"
	readme := "# x\n\n```go\n// chi\n" + line + "\n```\n"
	tests := []struct {
		name            string
		readme, rootDoc string
		want            []string // a substring of each problem, in order
	}{
		{"documented", readme, goDoc, nil},
		{"missing from the README", "# x\n", goDoc, []string{"x_test.go:5 uses"}},
		{"inline code in a README table", "| chi | `" + line + "` |\n", goDoc, nil},
		{"quoted in the README, not as code", "say " + line + "\n", goDoc, []string{"x_test.go:5 uses"}},
		{"go doc shows the call in a longer line", readme, "package prodready\n\n//\th := wrap(" + line + ")\nfunc RouteFunc() {}\n", nil},
		{"missing from go doc", readme, "package prodready\n", []string{"no doc comment of the root package"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, src := range map[string]string{"README.md": tt.readme, "routes.go": tt.rootDoc, "x_test.go": testFile} {
				if err := os.WriteFile(filepath.Join(root, name), []byte(src), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := documented(root, []string{filepath.Join(root, "x_test.go")})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q, want it to contain %q", got[i], w)
				}
			}
		})
	}
}

// TestDocumentedNoMarks: test files with no marked line are an error, not
// a pass that checked nothing.
func TestDocumentedNoMarks(t *testing.T) {
	root := t.TempDir()
	name := filepath.Join(root, "x_test.go")
	if err := os.WriteFile(name, []byte("package x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := documented(root, []string{name}); err == nil {
		t.Fatal("no error for files without a marked line")
	}
}

// TestDocumentedAssignment: for a marked "handler := call" line, go doc
// may show the call inside the whole stack; the README has the line.
func TestDocumentedAssignment(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"x_test.go": "package x\n\nfunc f() {\n\t// Documented:\n\thandler := prodready.Routes(mux)\n}\n",
		"README.md": "| ServeMux | `handler := prodready.Routes(mux)` |\n",
		"routes.go": "package prodready\n\n//\thandler := tracing.Middleware()(auth(prodready.Routes(mux)))\nfunc Routes() {}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := documented(root, []string{filepath.Join(root, "x_test.go")})
	if err != nil || len(got) != 0 {
		t.Fatalf("documented = %q, %v; want nothing to report", got, err)
	}
}
