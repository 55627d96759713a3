package snippets

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A Snippet is one code block of the documentation.
type Snippet struct {
	File string // where it is, relative to the repository root
	Line int    // the line of its first line in File
	Kind string // "file", "decls", "body" or "skip"; "" to guess
	Code string
	// Go is false for a doc comment block that may be output or a table:
	// it is skipped when it parses as no Go.
	Go bool
	// Package and Path name the package whose doc comment holds the
	// snippet, if one does: in its own doc a package's name is itself.
	Package, Path string
}

func (s Snippet) String() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

var marker = regexp.MustCompile(`^<!--\s*snippet:\s*(file|decls|body|skip)\s*-->$`)

// FromMarkdown returns the ```go blocks of a Markdown file, each with the
// kind named by a <!-- snippet: kind --> line just before its fence.
func FromMarkdown(name string, src []byte) []Snippet {
	var out []Snippet
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		s := Snippet{File: name, Line: i + 2, Go: true}
		for j := i - 1; j >= 0; j-- {
			if l := strings.TrimSpace(lines[j]); l != "" {
				if m := marker.FindStringSubmatch(l); m != nil {
					s.Kind = m[1]
				}
				break
			}
		}
		var code []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			code = append(code, lines[i])
		}
		s.Code = strings.Join(code, "\n") + "\n"
		out = append(out, s)
	}
	return out
}

// FromDocComment returns the indented code blocks of the package comment
// of a Go file.
func FromDocComment(name string, src []byte) ([]Snippet, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return nil, err
	}
	if f.Doc == nil {
		return nil, nil
	}
	var out []Snippet
	var cur *Snippet
	blanks := 0 // blank comment lines after the current block's last line
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, c := range f.Doc.List {
		text, ok := strings.CutPrefix(c.Text, "//")
		if !ok { // a /* */ comment: no code blocks taken from it
			flush()
			continue
		}
		switch {
		case strings.HasPrefix(text, "\t"):
			if cur == nil {
				cur = &Snippet{File: name, Line: fset.Position(c.Slash).Line, Package: f.Name.Name}
			}
			cur.Code += strings.Repeat("\n", blanks) + text[1:] + "\n"
			blanks = 0
		case strings.TrimSpace(text) == "" && cur != nil:
			blanks++
		default:
			flush()
			blanks = 0
		}
	}
	flush()
	return out, nil
}

// Packages maps the package names the docs use to import paths, the way
// goimports would find them: the standard library's and third-party
// packages here, the repository's own added by the test, which finds
// them (a new package needs no entry).
var Packages = map[string]string{ // #nosec G101 -- import paths ("secrets" is a package name), no credentials
	"attribute":   "go.opentelemetry.io/otel/attribute",
	"catalogv1":   "github.com/prodready/prodready/examples/catalog/catalogv1",
	"grpc":        "google.golang.org/grpc",
	"insecure":    "google.golang.org/grpc/credentials/insecure",
	"reflection":  "google.golang.org/grpc/reflection",
	"collectors":  "github.com/prometheus/client_golang/prometheus/collectors",
	"context":     "context",
	"errors":      "errors",
	"fmt":         "fmt",
	"http":        "net/http",
	"httptest":    "net/http/httptest",
	"io":          "io",
	"json":        "encoding/json",
	"net":         "net",
	"os":          "os",
	"otel":        "go.opentelemetry.io/otel",
	"otelhttp":    "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
	"pgx":         "github.com/jackc/pgx/v5",
	"pgxpool":     "github.com/jackc/pgx/v5/pgxpool",
	"prometheus":  "github.com/prometheus/client_golang/prometheus",
	"promhttp":    "github.com/prometheus/client_golang/prometheus/promhttp",
	"propagation": "go.opentelemetry.io/otel/propagation",
	"runtime":     "runtime",
	"sdktrace":    "go.opentelemetry.io/otel/sdk/trace",
	"signal":      "os/signal",
	"slog":        "log/slog",
	"sql":         "database/sql",
	"stdlib":      "github.com/jackc/pgx/v5/stdlib",
	"strings":     "strings",
	"sync":        "sync",
	"syscall":     "syscall",
	"testing":     "testing",
	"time":        "time",
	"tls":         "crypto/tls",
	"trace":       "go.opentelemetry.io/otel/trace",
	"zap":         "go.uber.org/zap",
}

// Assumed declares the names the docs use without declaring them. A name
// is declared for a snippet only when the snippet uses it.
var Assumed = map[string]string{ // #nosec G101 -- Go declarations for doc snippets ("token" is a variable name), no credential
	"admin":          "var admin *http.ServeMux",
	"adminServer":    "var adminServer *http.Server",
	"api":            "var api http.Handler",
	"base":           "var base http.RoundTripper",
	"catalogURL":     "var catalogURL string",
	"cfg":            "var cfg *pgxpool.Config",
	"checker":        "var checker *health.Checker",
	"checks":         "var checks *health.Checker",
	"client":         "var client *http.Client",
	"ctx":            "var ctx context.Context",
	"db":             "var db *sql.DB",
	"getOrder":       "func getOrder(http.ResponseWriter, *http.Request) {}",
	"getProduct":     "func getProduct(http.ResponseWriter, *http.Request) {}",
	"handler":        "var handler http.Handler",
	"heartbeat":      "var heartbeat struct{ Check health.Check }",
	"id":             "var id string",
	"impl":           "var impl catalogv1.CatalogServer",
	"ln":             "var ln net.Listener",
	"bin":            "var bin string",
	"consume":        "func consume(context.Context) error { return nil }",
	"level":          "var level zap.AtomicLevel",
	"log":            "var log *zap.Logger",
	"logger":         "var logger *zap.Logger",
	"mux":            "var mux *http.ServeMux",
	"pool":           "var pool *pgxpool.Pool",
	"publicServer":   "var publicServer *http.Server",
	"r":              "var r *http.Request",
	"red":            "var red func(http.Handler) http.Handler",
	"reg":            "var reg *prometheus.Registry",
	"sd":             "var sd *shutdown.Manager",
	"slogger":        "var slogger *slog.Logger",
	"srv":            "var srv *http.Server",
	"state":          "var state string",
	"t":              "var t *testing.T",
	"token":          "var token *secrets.File",
	"tp":             "var tp *tracing.Provider",
	"tracerProvider": "var tracerProvider *tracing.Provider",
	"version":        "var version string",
	"worker":         "func worker(context.Context) {}",
}

// AssumedIn overrides Assumed for the snippets of one file: the packages
// that log through slog call their logger a *slog.Logger.
var AssumedIn = map[string]map[string]string{
	"health/doc.go":   {"logger": "var logger *slog.Logger"},
	"secrets/doc.go":  {"logger": "var logger *slog.Logger"},
	"shutdown/doc.go": {"logger": "var logger *slog.Logger"},
}

// Wrap turns a snippet into the files of one package that compiles
// exactly when the snippet does, and names the kind it was taken as
// ("skip": nothing to compile). abs is the snippet's file as the //line
// directives name it.
func Wrap(s Snippet, abs string) (files map[string]string, kind string) {
	code := ellipses.ReplaceAllString(s.Code, "$1// ...")
	kind = s.Kind
	if kind == "" {
		kind = guess(code, s.Go)
	}
	at := func(line int) string { return "//line " + abs + ":" + strconv.Itoa(line) + "\n" }
	var src string
	switch kind {
	case "skip":
		return nil, kind
	case "file":
		return map[string]string{"snippet.go": at(s.Line) + code}, kind
	case "decls":
		src = "package snippet\n\n" + at(s.Line) + withUses(code, "package snippet\n", "", s.Line, at)
	case "body":
		src = body(code, s.Line, at)
	}
	pkgs := Packages
	if s.Path != "" {
		pkgs = maps.Clone(Packages)
		pkgs[s.Package] = s.Path
	}
	files = map[string]string{"snippet.go": withImports(src, pkgs)}
	assumed := maps.Clone(Assumed)
	maps.Copy(assumed, AssumedIn[s.File])
	var prelude []string
	declared := topLevel(src)
	for _, name := range used(src) {
		if d, ok := assumed[name]; ok && !declared[name] {
			prelude = append(prelude, d)
		}
	}
	if len(prelude) > 0 {
		slices.Sort(prelude)
		files["assumed.go"] = withImports("package snippet\n\n"+strings.Join(prelude, "\n")+"\n", pkgs)
	}
	return files, kind
}

// A line that is only "..." stands for code left out.
var ellipses = regexp.MustCompile(`(?m)^(\s*)\.\.\.\s*$`)

func guess(code string, isGo bool) string {
	if strings.HasPrefix(strings.TrimSpace(code), "package ") {
		return "file"
	}
	if parses("package snippet\n" + code) {
		return "decls"
	}
	if parses("package snippet\nfunc _() {\n" + code + "\n}") {
		return "body"
	}
	if strings.HasPrefix(strings.TrimSpace(code), "func ") {
		return "decls" // with a syntax error: the compiler says where
	}
	if !isGo && !strings.Contains(code, ":=") && !strings.Contains(code, "func ") {
		return "skip" // output, a table, a shell command
	}
	return "body" // Go with a syntax error: the compiler says where
}

func parses(src string) bool {
	_, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	return err == nil
}

// body wraps code as a function body, returning error when the code
// returns a value.
func body(code string, first int, at func(int) string) string {
	returns := false
	if f, err := parser.ParseFile(token.NewFileSet(), "", "package snippet\nfunc _() {\n"+code+"\n}", parser.SkipObjectResolution); err == nil {
		ast.Inspect(f.Decls[0].(*ast.FuncDecl).Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false
			case *ast.ReturnStmt:
				returns = returns || len(n.Results) > 0
			}
			return true
		})
	}
	var b strings.Builder
	b.WriteString("package snippet\n\nfunc snippet()")
	if returns {
		b.WriteString(" error")
	}
	b.WriteString(" {\n" + at(first))
	b.WriteString(withUses(code, "package snippet\nfunc _() {\n", "\n}", first, at))
	if returns && !endsInReturn(code) {
		b.WriteString("return nil\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// withUses returns code with every name that a top-level statement of a
// function body declares used right after that statement, so that a
// fragment may leave a value for the reader (or for code shown as "...").
// head and tail make code a file.
func withUses(code, head, tail string, first int, at func(int) string) string {
	offset := strings.Count(head, "\n")
	uses := map[int][]string{} // line of code (from 1) -> names to use after it
	fset := token.NewFileSet()
	if f, err := parser.ParseFile(fset, "", head+code+tail, parser.SkipObjectResolution); err == nil {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			closing := fset.Position(fn.Body.Rbrace).Line
			for _, st := range fn.Body.List {
				if end := fset.Position(st.End()).Line; end != closing {
					uses[end-offset] = append(uses[end-offset], declares(st)...)
				}
			}
		}
	}
	var b strings.Builder
	for n, line := range strings.Split(strings.TrimSuffix(code, "\n"), "\n") {
		b.WriteString(line + "\n")
		if names := uses[n+1]; len(names) > 0 {
			for _, name := range names {
				b.WriteString("_ = " + name + "\n")
			}
			b.WriteString(at(first + n + 1))
		}
	}
	return b.String()
}

func endsInReturn(code string) bool {
	lines := strings.Split(strings.TrimSpace(code), "\n")
	return strings.HasPrefix(strings.TrimSpace(lines[len(lines)-1]), "return ")
}

// declares returns the names a statement declares in its block.
func declares(st ast.Stmt) []string {
	var names []string
	switch st := st.(type) {
	case *ast.AssignStmt:
		if st.Tok == token.DEFINE {
			for _, e := range st.Lhs {
				if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
					names = append(names, id.Name)
				}
			}
		}
	case *ast.DeclStmt:
		if g, ok := st.Decl.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, s := range g.Specs {
				for _, id := range s.(*ast.ValueSpec).Names {
					if id.Name != "_" {
						names = append(names, id.Name)
					}
				}
			}
		}
	}
	return names
}

// topLevel returns the names a file declares at package level.
func topLevel(src string) map[string]bool {
	names := map[string]bool{}
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil {
		return names
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				names[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, id := range s.Names {
						names[id.Name] = true
					}
				case *ast.TypeSpec:
					names[s.Name.Name] = true
				}
			}
		}
	}
	return names
}

// used returns the identifiers a file uses outside selectors' right-hand
// sides and composite literals' keys, sorted.
func used(src string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	skip := map[*ast.Ident]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			skip[n.Sel] = true
		case *ast.KeyValueExpr:
			if id, ok := n.Key.(*ast.Ident); ok {
				skip[id] = true
			}
		case *ast.Ident:
			if !skip[n] {
				seen[n.Name] = true
			}
		}
		return true
	})
	return slices.Sorted(maps.Keys(seen))
}

// withImports adds an import for every package name of pkgs that src uses
// as the left side of a selector and declares nowhere.
func withImports(src string, pkgs map[string]string) string {
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil {
		return src // the compiler reports the syntax error
	}
	local := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE {
				for _, e := range n.Lhs {
					if id, ok := e.(*ast.Ident); ok {
						local[id.Name] = true
					}
				}
			}
		case *ast.RangeStmt:
			if n.Tok == token.DEFINE {
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if id, ok := e.(*ast.Ident); ok {
						local[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range n.Names {
				local[id.Name] = true
			}
		case *ast.Field:
			for _, id := range n.Names {
				local[id.Name] = true
			}
		case *ast.FuncDecl:
			local[n.Name.Name] = true
		case *ast.TypeSpec:
			local[n.Name.Name] = true
		}
		return true
	})
	need := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && !local[id.Name] && pkgs[id.Name] != "" {
				need[pkgs[id.Name]] = true
			}
		}
		return true
	})
	if len(need) == 0 {
		return src
	}
	var imports bytes.Buffer
	imports.WriteString("import (\n")
	for _, p := range slices.Sorted(maps.Keys(need)) {
		fmt.Fprintf(&imports, "\t%q\n", p)
	}
	imports.WriteString(")\n")
	// After the package clause, which is the first line.
	i := strings.Index(src, "\n") + 1
	return src[:i] + "\n" + imports.String() + src[i:]
}

// OnlyTested reports whether every line of code is one of tested, a
// comment or blank: a block the tests/ modules compile and run.
func OnlyTested(code string, tested map[string]bool) bool {
	found := false
	for line := range strings.Lines(code) {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "//") {
			continue
		}
		if !tested[l] {
			return false
		}
		found = true
	}
	return found
}
