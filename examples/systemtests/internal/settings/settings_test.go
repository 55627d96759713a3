package settings_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prodready/prodready/examples/systemtests/internal/settings"
)

// examplesDir is the examples module, seen from this package's directory.
const examplesDir = "../../.."

// services are the example services whose settings are documented.
var services = []string{"catalog", "orders"}

func read(t *testing.T, service string) settings.Service {
	t.Helper()
	s, err := settings.Read(examplesDir, service)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// docItem is one item of a main's list of settings:
// "  - NAME (default): what it does".
var docItem = regexp.MustCompile(`^\s+- ([A-Z][A-Z0-9_]*(?:_\*)?)(?: \(([^)]*)\))?:`)

// mentioned finds the names of variables in prose: words of capitals with
// an underscore, and the names the code reads.
var mentioned = regexp.MustCompile(`\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b`)

// TestMainDocs: each main's package comment lists every variable the
// service reads, with the default the code has, and names none it does
// not read.
func TestMainDocs(t *testing.T) {
	for _, name := range services {
		t.Run(name, func(t *testing.T) {
			code := read(t, name)
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(examplesDir, name, "main.go"), nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc == nil {
				t.Fatal("main.go has no package comment")
			}
			doc := f.Doc.Text()
			listed := map[string]string{}
			for line := range strings.SplitSeq(doc, "\n") {
				if m := docItem.FindStringSubmatch(line); m != nil {
					if _, dup := listed[m[1]]; dup {
						t.Errorf("%s is listed twice", m[1])
					}
					listed[m[1]] = m[2]
				}
			}
			if _, ok := listed["OTEL_*"]; !ok {
				t.Errorf("the list does not have OTEL_*, read by tracing.Setup")
			}
			delete(listed, "OTEL_*")
			for _, key := range slices.Sorted(maps.Keys(code.Env)) {
				got, ok := listed[key]
				switch {
				case !ok:
					t.Errorf("the code reads %s (default %s); the package comment's list does not have it", key, code.Default(key))
				case got != code.Default(key):
					t.Errorf("%s: the package comment says (%s), the code's default is %s", key, got, code.Default(key))
				}
			}
			for key := range listed {
				if !code.Reads(key) {
					t.Errorf("the package comment lists %s, which the code does not read", key)
				}
			}
			for _, key := range mentioned.FindAllString(doc, -1) {
				if !code.Reads(key) && !strings.HasPrefix(key, "OTEL_") {
					t.Errorf("the package comment mentions %s, which the code does not read", key)
				}
			}
		})
	}
}

// TestReadme: the README's table of settings has a row for every variable
// either service reads, with each service's default in its column ("—"
// where it does not read it), and no row the code does not have.
func TestReadme(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(examplesDir, "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	header := "| variable | catalog | orders | what it sets |"
	at := slices.Index(lines, header)
	if at < 0 {
		t.Fatalf("README.md has no table of settings with the header %q", header)
	}
	codes := map[string]settings.Service{}
	all := map[string]bool{}
	for _, name := range services {
		codes[name] = read(t, name)
		for key := range codes[name].Env {
			all[key] = true
		}
	}
	rows := map[string]bool{}
	for i := at + 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
		cells := strings.Split(strings.Trim(lines[i], "|"), "|")
		if len(cells) != 4 {
			t.Errorf("README.md:%d: %d cells, want 4", i+1, len(cells))
			continue
		}
		for j := range cells {
			cells[j] = strings.Trim(strings.TrimSpace(cells[j]), "`")
		}
		key := cells[0]
		rows[key] = true
		if key == "OTEL_*" {
			continue
		}
		if !all[key] {
			t.Errorf("README.md:%d: %s, which neither service reads", i+1, key)
			continue
		}
		for j, name := range services {
			code, cell := codes[name], cells[1+j]
			switch {
			case !code.Reads(key) && cell != "—":
				t.Errorf("README.md:%d: %s: %s does not read it, the %s column says %q (want —)", i+1, key, name, name, cell)
			case code.Reads(key) && cell != code.Default(key):
				t.Errorf("README.md:%d: %s: the %s column says %q, %s's default is %q", i+1, key, name, cell, name, code.Default(key))
			}
		}
	}
	for _, key := range append(slices.Sorted(maps.Keys(all)), "OTEL_*") {
		if !rows[key] {
			t.Errorf("README.md's table of settings has no row for %s", key)
		}
	}
}

// TestConfigComments: each field server.FromEnv fills from a variable
// names that variable in its comment, and the comments name no other.
func TestConfigComments(t *testing.T) {
	path := filepath.Join(examplesDir, "..", "server", "config.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{} // Config's field → its doc and line comment
	fromEnv := map[string]string{}  // Config's field → the variable FromEnv reads into it
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.TypeSpec:
			if st, ok := n.Type.(*ast.StructType); ok && n.Name.Name == "Config" {
				for _, field := range st.Fields.List {
					for _, id := range field.Names {
						comments[id.Name] = field.Doc.Text() + field.Comment.Text()
					}
				}
			}
		case *ast.FuncDecl:
			if n.Name.Name != "FromEnv" {
				return false
			}
		case *ast.KeyValueExpr:
			key, ok1 := n.Key.(*ast.Ident)
			call, ok2 := n.Value.(*ast.CallExpr)
			if ok1 && ok2 && len(call.Args) > 0 {
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					name, _ := strconv.Unquote(lit.Value)
					fromEnv[key.Name] = name
				}
			}
		}
		return true
	})
	if len(comments) == 0 || len(fromEnv) == 0 {
		t.Fatalf("found Config's fields %v and FromEnv's reads %v: has server/config.go changed shape?", comments, fromEnv)
	}
	for field, name := range fromEnv {
		if !strings.Contains(comments[field], name) {
			t.Errorf("Config.%s is read from %s; its comment does not say so: %q", field, name, comments[field])
		}
	}
	for field, text := range comments {
		for _, name := range mentioned.FindAllString(text, -1) {
			if fromEnv[field] != name {
				t.Errorf("Config.%s's comment names %s; FromEnv reads it from %q", field, name, fromEnv[field])
			}
		}
	}
}
