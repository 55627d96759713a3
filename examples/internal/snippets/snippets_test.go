package snippets

import (
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prodready/prodready/internal/routertest"
)

// repo is the repository root, seen from this package's directory, and
// here this directory, seen from the root.
const (
	repo = "../../.."
	here = "examples/internal/snippets"
	// systemtests is the system tests' module, seen from the root.
	systemtests = "examples/systemtests"
)

// collect returns every snippet of README.md and of the doc.go files of
// the repository.
func collect(t *testing.T) []Snippet {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	all := FromMarkdown("README.md", src)
	err = filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != repo && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != "doc.go" {
			return nil
		}
		src, err := os.ReadFile(path) // #nosec G304 -- a doc.go of this repository
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repo, path)
		if err != nil {
			return err
		}
		s, err := FromDocComment(filepath.ToSlash(rel), src)
		for i := range s {
			s[i].Path = importPath(filepath.ToSlash(filepath.Dir(rel)))
		}
		all = append(all, s...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// modules maps each module's directory to its path.
var modules = map[string]string{
	".":          "github.com/prodready/prodready",
	"examples":   "github.com/prodready/prodready/examples",
	"benchmarks": "github.com/prodready/prodready/benchmarks",
}

// importPath is the import path of the package in dir, relative to the
// repository root and slash-separated.
func importPath(dir string) string {
	mod := "."
	if first, _, _ := strings.Cut(dir, "/"); modules[first] != "" {
		mod = first
	}
	if dir == mod {
		return modules[mod]
	}
	return modules[mod] + "/" + strings.TrimPrefix(strings.TrimPrefix(dir, mod), "/")
}

// repoPackages maps the name of each package of the repository's three
// modules to its import path. Where two share a name the one a user can
// import wins (no internal element), then the shorter path.
func repoPackages(root string) (map[string]string, error) {
	better := func(a, b string) bool { // a before b
		ai, bi := strings.Contains(a+"/", "/internal/"), strings.Contains(b+"/", "/internal/")
		if ai != bi {
			return !ai
		}
		return len(a) < len(b)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly)
		if err != nil || f.Name.Name == "main" {
			return nil //nolint:nilerr // a file that does not parse names no package
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		imp := importPath(filepath.ToSlash(rel))
		if cur, ok := out[f.Name.Name]; !ok || better(imp, cur) {
			out[f.Name.Name] = imp
		}
		return nil
	})
	return out, err
}

// TestSnippets builds and vets every Go snippet of the documentation, each
// as a package of this module under testdata/ (removed afterwards), and
// reports each one that does not compile or that vet finds wrong, by its
// file and line.
func TestSnippets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every snippet of the docs")
	}
	root, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	// A snippet is built as a package of its doc's module: under this
	// package's testdata/, or, for the system tests' docs, under
	// examples/systemtests/testdata/, where their internal packages are
	// visible. Each directory is removed afterwards.
	buildDirs := map[string]string{} // module directory -> build directory, both relative to root
	buildDir := func(file string) string {
		mod := here
		if strings.HasPrefix(file, systemtests+"/") {
			mod = systemtests
		}
		if dir, ok := buildDirs[mod]; ok {
			return dir
		}
		testdata := filepath.Join(root, mod, "testdata")
		if err := os.MkdirAll(testdata, 0o755); err != nil { // #nosec G301 -- a build directory
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp(testdata, "build-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			os.RemoveAll(dir)
			os.Remove(testdata) // only when empty: another run may be using it
		})
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		buildDirs[mod] = rel
		return rel
	}

	ours, err := repoPackages(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, path := range ours {
		if _, ok := Packages[name]; !ok {
			Packages[name] = path
		}
	}
	snippets := collect(t)
	tested := testedLines(t, root)
	byPkg := map[string]Snippet{}  // package directory name -> snippet
	pkgDirs := map[string]string{} // package directory name -> its directory, relative to root
	kinds := map[string]string{}
	for i, s := range snippets {
		if OnlyTested(s.Code, tested) {
			t.Logf("%s: router lines, compiled and run by the tests/ modules", s)
			continue
		}
		files, kind := Wrap(s, filepath.Join(root, filepath.FromSlash(s.File)))
		if kind == "skip" {
			t.Logf("%s: not Go, or marked skip: not compiled", s)
			continue
		}
		pkg := fmt.Sprintf("s%03d", i)
		byPkg[pkg], kinds[pkg] = s, kind
		pkgDirs[pkg] = filepath.Join(buildDir(s.File), pkg)
		if err := os.Mkdir(filepath.Join(root, pkgDirs[pkg]), 0o755); err != nil { // #nosec G301 -- a build directory
			t.Fatal(err)
		}
		for name, src := range files {
			if err := os.WriteFile(filepath.Join(root, pkgDirs[pkg], name), []byte(src), 0o644); err != nil { // #nosec G306 -- generated source
				t.Fatal(err)
			}
		}
	}
	if len(byPkg) == 0 {
		t.Fatal("no Go snippets found in README.md or any doc.go")
	}

	// One go build for all (the compiler gives every error of a package),
	// then one go vet for those that built.
	failed := map[string]string{}
	for pkg, msg := range goTool(t, root, "build", slices.Collect(maps.Values(pkgDirs))) {
		failed[pkg] = msg
	}
	var built []string
	for pkg, dir := range pkgDirs {
		if _, ok := failed[pkg]; !ok {
			built = append(built, dir)
		}
	}
	if len(built) > 0 {
		for pkg, msg := range goTool(t, root, "vet", built) {
			failed[pkg] = "go vet: " + msg
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(byPkg)) {
		s := byPkg[pkg]
		t.Run(s.String(), func(t *testing.T) {
			if msg, ok := failed[pkg]; ok {
				t.Errorf("%s: the snippet does not compile, taken as %s (how snippets are wrapped: go doc ./examples/internal/snippets):\n%s",
					s, kinds[pkg], msg)
			}
		})
	}
	t.Logf("%d snippets, %d failing", len(byPkg), len(failed))
}

// testedLines returns the lines the test files under root/tests mark with
// routertest.Marker, trimmed: the router lines the docs give.
func testedLines(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "tests"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path) // #nosec G304 -- a test file of this repository
		if err != nil {
			return err
		}
		lines := strings.Split(string(src), "\n")
		for i := 0; i+1 < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == routertest.Marker {
				out[strings.TrimSpace(lines[i+1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no line under %s/tests is marked %q", root, routertest.Marker)
	}
	return out
}

// header is the line the go command prints before a package's messages.
var header = regexp.MustCompile(`^# .*/(s[0-9]{3})$`)

// goTool runs go build or go vet on the snippet packages in dirs
// (relative to the repository root) and returns each failing package's
// messages, with paths relative to the root.
func goTool(t *testing.T, root, verb string, dirs []string) map[string]string {
	t.Helper()
	args := []string{verb}
	for _, d := range dirs {
		args = append(args, "./"+filepath.ToSlash(d))
	}
	cmd := exec.Command("go", args...) // #nosec G204 -- the go command, fixed verbs
	cmd.Dir = root                     // messages name files relative to it
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	failed := map[string]string{}
	cur := ""
	for _, line := range strings.Split(out.String(), "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			cur = m[1]
			continue
		}
		if line == "" || cur == "" {
			continue
		}
		line = strings.ReplaceAll(line, root+string(filepath.Separator), "")
		failed[cur] += "\t" + strings.TrimPrefix(strings.TrimSpace(line), "./") + "\n"
	}
	if err != nil && len(failed) == 0 {
		t.Fatalf("go %s: %v\n%s", verb, err, out.String())
	}
	return failed
}

// TestExtract: where snippets are found, with their lines and markers.
func TestExtract(t *testing.T) {
	md := "text\n\n<!-- snippet: decls -->\n```go\nfunc f() {}\n```\n\n```sh\nls\n```\n```go\nx := 1\n```\n"
	got := FromMarkdown("a.md", []byte(md))
	if len(got) != 2 || got[0].Line != 5 || got[0].Kind != "decls" || got[0].Code != "func f() {}\n" ||
		got[1].Line != 12 || got[1].Kind != "" || got[1].Code != "x := 1\n" {
		t.Errorf("FromMarkdown = %+v", got)
	}
	src := "// Package p.\n//\n//\ta := 1\n//\n//\tb := a\n//\n// Text.\n//\n//\t{\"json\": true}\npackage p\n"
	docs, err := FromDocComment("p/doc.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Line != 3 || docs[0].Code != "a := 1\n\nb := a\n" || docs[1].Line != 9 {
		t.Errorf("FromDocComment = %+v", docs)
	}
	if _, kind := Wrap(docs[1], "/p/doc.go"); kind != "skip" {
		t.Errorf("Wrap(JSON block) kind = %s, want skip", kind)
	}
	if _, kind := Wrap(docs[0], "/p/doc.go"); kind != "body" {
		t.Errorf("Wrap(statements) kind = %s, want body", kind)
	}
	tested := map[string]bool{"r.Use(x)": true}
	for code, want := range map[string]bool{
		"// chi:\n\tr.Use(x)\n\n": true,  // tested lines and comments only
		"r.Use(x)\ny := 2\n":      false, // another line: compiled here
		"// only a comment\n":     false, // nothing tested
	} {
		if got := OnlyTested(code, tested); got != want {
			t.Errorf("OnlyTested(%q) = %v, want %v", code, got, want)
		}
	}
}
