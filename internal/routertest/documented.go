package routertest

import (
	"fmt"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Marker is the comment that marks, in a test file, the line after it as
// one the documentation gives: the line that names a router's routes.
const Marker = "// Documented:"

// Documented checks the lines marked with Marker in the test files against
// the documentation of the repository at root: each must be, as written
// (leading and trailing space aside), a line of README.md or inline code
// there (a table cell), and its call (without "x := ") must be on a line
// of a doc comment of the root package, which is what go doc shows. So
// the router lines a newcomer copies are the ones these tests compile and
// run. (The examples module's snippet test, which cannot compile them,
// skips a doc block made only of these lines.)
func Documented(t *testing.T, root string, files ...string) {
	t.Helper()
	problems, err := documented(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// documented returns what Documented reports.
func documented(root string, files []string) ([]string, error) {
	marked := map[string]string{} // line -> where it is marked
	for _, name := range files {
		src, err := os.ReadFile(name) // #nosec G304 -- a test file of the caller's
		if err != nil {
			return nil, err
		}
		lines := strings.Split(string(src), "\n")
		for i, l := range lines {
			if strings.TrimSpace(l) == Marker && i+1 < len(lines) {
				marked[strings.TrimSpace(lines[i+1])] = name + ":" + strconv.Itoa(i+2)
			}
		}
	}
	if len(marked) == 0 {
		return nil, fmt.Errorf("no line of %v is marked %q", files, Marker)
	}

	readme, err := os.ReadFile(filepath.Join(root, "README.md")) // #nosec G304 -- the repository's README
	if err != nil {
		return nil, err
	}
	readmeLines := map[string]bool{}
	for l := range strings.Lines(string(readme)) {
		readmeLines[strings.TrimSpace(l)] = true
	}
	docLines, err := rootDocLines(root)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, line := range slices.Sorted(maps.Keys(marked)) {
		where := marked[line]
		if !readmeLines[line] && !strings.Contains(string(readme), "`"+line+"`") {
			problems = append(problems, fmt.Sprintf("README.md lacks the line %s uses (as a line of its own or as inline code):\n\t%s", where, line))
		}
		// go doc may show the call inside a longer line (the whole stack
		// around Routes(mux)): the call, without "x := ", must be there.
		call := line
		if _, rhs, ok := strings.Cut(line, " := "); ok {
			call = rhs
		}
		if !slices.ContainsFunc(docLines, func(l string) bool { return strings.Contains(l, call) }) {
			problems = append(problems, fmt.Sprintf("no doc comment of the root package (go doc) has the call %s uses:\n\t%s", where, call))
		}
	}

	return problems, nil
}

// rootDocLines returns the lines of every comment of the root package's
// non-test files.
func rootDocLines(root string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				out = append(out, strings.Split(c.Text, "\n")...)
			}
		}
	}
	return out, nil
}
