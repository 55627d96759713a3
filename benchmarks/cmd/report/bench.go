package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prodready/prodready/benchmarks/cmd/internal/results"
)

// figures are one benchmark's medians over its runs.
type figures struct {
	ns, bytes, allocs float64
	runs              int
}

// medians maps a benchmark's full name (GOMAXPROCS suffix removed, as
// go test prints it: spaces in sub-benchmark names become underscores)
// to its figures.
type medians map[string]figures

// procSuffix is the -N that go test appends for GOMAXPROCS.
var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads go test -bench output and takes the median of every
// unit over the runs of each benchmark.
func parseBench(r io.Reader) (medians, []string, error) {
	type samples struct{ ns, bytes, allocs []float64 }
	all := map[string]*samples{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a benchmark's own log line
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		s := all[name]
		if s == nil {
			s = &samples{}
			all[name] = s
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%q: %w", sc.Text(), err)
			}
			switch f[i+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			}
		}
	}
	m := medians{}
	for name, s := range all {
		m[name] = figures{
			ns: results.Median(s.ns), bytes: results.Median(s.bytes), allocs: results.Median(s.allocs),
			runs: len(s.ns),
		}
	}
	return m, order, sc.Err()
}

// benchDoc is a Benchmark function and its doc comment.
type benchDoc struct {
	name, file, doc string
}

// benchDocs reads the doc comment of every Benchmark function in the
// _test.go files of dir, so that BENCHMARKS.md says what each one measures
// in the words of whoever wrote it.
func benchDocs(dir string) ([]benchDoc, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var docs []benchDoc
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Benchmark") {
				continue
			}
			docs = append(docs, benchDoc{name: fn.Name.Name, file: filepath.Base(file), doc: strings.TrimSpace(fn.Doc.Text())})
		}
	}
	return docs, nil
}

// readFile returns the text of file, or "" when there is none.
func readFile(file string) string {
	b, err := os.ReadFile(file) // #nosec G304 -- a results file named by the caller
	if err != nil {
		return ""
	}
	return string(b)
}
