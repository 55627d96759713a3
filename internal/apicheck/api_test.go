package apicheck

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", os.Getenv("UPDATE_API") != "", "rewrite api/*.txt from the code (also UPDATE_API=1)")

// root is the module root, seen from this package's directory.
const root = "../.."

// TestAPI: the committed api/<package>.txt of every public package is the
// API the code declares, and no file is left for a package that is gone.
func TestAPI(t *testing.T) {
	pkgs, err := Packages(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("no public packages found")
	}
	apiDir := filepath.Join(root, "api")
	want := map[string]bool{}
	for _, pkg := range pkgs {
		file := filepath.Join(root, File(pkg))
		want[file] = true
		got, err := Render(filepath.Join(root, filepath.FromSlash(pkg)))
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil { // #nosec G306 -- a committed text file
				t.Fatal(err)
			}
			continue
		}
		committed, err := os.ReadFile(file) // #nosec G304 -- a file under api/ named after a package
		if err != nil {
			t.Errorf("api/%s.txt: no API file for package %s (run UPDATE_API=1 go test ./internal/apicheck and commit it)", pkg, pkg)
			continue
		}
		if string(committed) != got {
			t.Errorf("the API of package %s is not the one recorded in api/%s.txt: if the change is meant, run UPDATE_API=1 go test ./internal/apicheck, commit the file and note the change in CHANGELOG.md\n%s",
				pkg, pkg, lineDiff(string(committed), got))
		}
	}
	// Files left for packages that are gone.
	err = filepath.WalkDir(apiDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || want[path] {
			return err
		}
		if *update {
			return os.Remove(path)
		}
		rel := filepath.ToSlash(path[len(apiDir)+1:])
		t.Errorf("api/%s: no public package %s any more (run UPDATE_API=1 go test ./internal/apicheck)", rel, strings.TrimSuffix(rel, ".txt"))
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// lineDiff lists the lines only in the recorded API (-) and only in the
// code's (+), in the order of each; enough to see what changed without a
// diff library.
func lineDiff(recorded, code string) string {
	a, b := strings.Split(recorded, "\n"), strings.Split(code, "\n")
	var out strings.Builder
	for _, l := range a {
		if l != "" && !slices.Contains(b, l) {
			out.WriteString("-\t" + l + "\n")
		}
	}
	for _, l := range b {
		if l != "" && !slices.Contains(a, l) {
			out.WriteString("+\t" + l + "\n")
		}
	}
	return out.String()
}

// TestRender: the rendering of a package with every kind of declaration,
// exported and not.
func TestRender(t *testing.T) {
	got, err := Render(filepath.Join("testdata", "sample"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Render(testdata/sample) =\n%s\nwant\n%s", got, want)
	}
}

func TestPackages(t *testing.T) {
	pkgs, err := Packages(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".", "health", "logging", "metrics", "secrets", "shutdown", "tracing"} {
		if !slices.Contains(pkgs, want) {
			t.Errorf("Packages(root) = %v, missing %s", pkgs, want)
		}
	}
	for _, p := range pkgs {
		if strings.Contains("/"+p+"/", "/internal/") || strings.Contains("/"+p+"/", "/testdata/") ||
			strings.HasPrefix(p, "examples") || strings.HasPrefix(p, "benchmarks") {
			t.Errorf("Packages(root) lists %s, which is not a public package of this module", p)
		}
	}
}
