package apicheck

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Packages returns the public packages of the module rooted at root, as
// slash-separated directories relative to it ("health", "shutdown"),
// sorted. Directories with their own go.mod (other modules), internal/
// trees, testdata and hidden or underscore directories are left out. The
// root package (prodready.Routes) is listed as ".".
func Packages(root string) ([]string, error) {
	var pkgs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		name := d.Name()
		if rel != "." && (name == "internal" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && rel != "." {
			return filepath.SkipDir
		}
		if _, err := build.ImportDir(path, 0); err == nil {
			pkgs = append(pkgs, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(pkgs)
	return pkgs, err
}

// Render returns the exported API of the package in dir: its package
// clause, then every exported constant, variable, function, type and
// method of the non-test files built on this platform, without comments,
// one declaration per block, sorted by name with methods after their type.
func Render(dir string) (string, error) {
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	var decls []decl
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return "", err
		}
		for _, d := range f.Decls {
			decls = append(decls, exported(d)...)
		}
	}
	slices.SortStableFunc(decls, func(a, b decl) int {
		if a.kind != b.kind {
			return a.kind - b.kind
		}
		return strings.Compare(a.key, b.key)
	})
	var out strings.Builder
	fmt.Fprintf(&out, "package %s\n", bp.Name)
	for _, d := range decls {
		var b bytes.Buffer
		if err := gofmt.Fprint(&b, fset, d.node); err != nil {
			return "", err
		}
		b.WriteString("\n")
		out.WriteString("\n")
		for line := range strings.Lines(b.String()) {
			// The gaps left by the comments taken out are no API.
			if strings.TrimSpace(line) == "" {
				continue
			}
			// A marker in an otherwise empty struct or interface prints
			// on one line, where it would comment out the brace.
			if i := strings.Index(line, "{ // unexported "); i >= 0 && strings.HasSuffix(line, " }\n") {
				indent := line[:len(line)-len(strings.TrimLeft(line, "\t"))]
				line = line[:i] + "{\n" + indent + "\t" + strings.TrimSuffix(line[i+2:], " }\n") + "\n" + indent + "}\n"
			}
			out.WriteString(line)
		}
	}
	// Formatted again as a whole: alignment was computed with the gaps.
	src, err := format.Source([]byte(out.String()))
	if err != nil {
		return "", fmt.Errorf("apicheck: formatting the API of %s: %v", dir, err)
	}
	return string(src), nil
}

// gofmt prints as gofmt does.
var gofmt = printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}

// The order of the sections in a rendered file.
const (
	kindConst = iota
	kindVar
	kindFunc
	kindType // a type and its methods
)

type decl struct {
	kind int
	key  string // name; "T.M" for a method of T
	node ast.Node
}

// exported returns the exported parts of one top-level declaration,
// stripped of comments and bodies.
func exported(d ast.Decl) []decl {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() {
			return nil
		}
		fn := &ast.FuncDecl{Recv: d.Recv, Name: d.Name, Type: d.Type}
		if d.Recv == nil {
			return []decl{{kindFunc, d.Name.Name, fn}}
		}
		recv := receiverName(d.Recv.List[0].Type)
		if !ast.IsExported(recv) {
			return nil
		}
		return []decl{{kindType, recv + "." + d.Name.Name, fn}}
	case *ast.GenDecl:
		switch d.Tok {
		case token.CONST, token.VAR:
			return values(d)
		case token.TYPE:
			var out []decl
			for _, s := range d.Specs {
				ts := s.(*ast.TypeSpec)
				if !ts.Name.IsExported() {
					continue
				}
				t := &ast.TypeSpec{Name: ts.Name, TypeParams: ts.TypeParams, Assign: ts.Assign, Type: strip(ts.Type)}
				out = append(out, decl{kindType, ts.Name.Name, &ast.GenDecl{Tok: token.TYPE, Specs: []ast.Spec{t}}})
			}
			return out
		}
	}
	return nil
}

// values returns a const or var declaration's exported names. A group is
// kept as one block (an iota sequence reads only as a whole), with its
// unexported specs left out; the block sorts by its first exported name.
func values(d *ast.GenDecl) []decl {
	kind := kindVar
	if d.Tok == token.CONST {
		kind = kindConst
	}
	g := &ast.GenDecl{Tok: d.Tok}
	key := ""
	for _, s := range d.Specs {
		vs := s.(*ast.ValueSpec)
		var names []*ast.Ident
		for _, n := range vs.Names {
			if n.IsExported() {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			continue
		}
		if key == "" {
			key = names[0].Name
		}
		spec := &ast.ValueSpec{Names: names, Type: vs.Type}
		if len(names) == len(vs.Names) {
			spec.Values = vs.Values // with some names dropped, values no longer line up
		}
		g.Specs = append(g.Specs, spec)
	}
	if len(g.Specs) == 0 {
		return nil
	}
	if len(g.Specs) > 1 || d.Lparen.IsValid() {
		g.Lparen = 1 // any valid position: printed as a group
		g.Rparen = 1
	}
	return []decl{{kind, key, g}}
}

// receiverName is the base type name of a method receiver or embedded
// field: T for T, *T, T[K], *T[K, V] and pkg.T.
func receiverName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		case *ast.SelectorExpr: // an embedded type of another package
			return x.Sel.Name
		default:
			return ""
		}
	}
}

// strip returns a type expression without comments and with the
// unexported fields of a struct and methods of an interface replaced by
// one marker, as go doc shows them.
func strip(e ast.Expr) ast.Expr {
	switch t := e.(type) {
	case *ast.StructType:
		fields, hidden := exportedFields(t.Fields, false)
		if hidden {
			fields = append(fields, marker("unexported fields"))
		}
		return &ast.StructType{Fields: &ast.FieldList{Opening: 1, List: fields, Closing: 1}}
	case *ast.InterfaceType:
		fields, hidden := exportedFields(t.Methods, true)
		if hidden {
			fields = append(fields, marker("unexported methods"))
		}
		return &ast.InterfaceType{Methods: &ast.FieldList{Opening: 1, List: fields, Closing: 1}}
	}
	return e
}

// exportedFields keeps the exported fields (or interface methods) of l and
// every embedded one (an embedded type or interface element); it reports
// whether it left any out.
func exportedFields(l *ast.FieldList, iface bool) ([]*ast.Field, bool) {
	if l == nil {
		return nil, false
	}
	var out []*ast.Field
	hidden := false
	for _, f := range l.List {
		if len(f.Names) == 0 { // embedded
			if !iface && !ast.IsExported(receiverName(f.Type)) {
				hidden = true
				continue
			}
			out = append(out, &ast.Field{Type: f.Type, Tag: f.Tag})
			continue
		}
		var names []*ast.Ident
		for _, n := range f.Names {
			if n.IsExported() {
				names = append(names, n)
			} else {
				hidden = true
			}
		}
		if len(names) > 0 {
			out = append(out, &ast.Field{Names: names, Type: strip(f.Type), Tag: f.Tag})
		}
	}
	return out, hidden
}

// marker is a pseudo-field that prints as "// <text>": go/printer prints
// an identifier verbatim.
func marker(text string) *ast.Field {
	return &ast.Field{Type: ast.NewIdent("// " + text)}
}

// File returns the API file of pkg, one of Packages' results, relative to
// the module root: api/health.txt, and api/prodready.txt for the root.
func File(pkg string) string {
	if pkg == "." {
		pkg = "prodready"
	}
	return filepath.Join("api", filepath.FromSlash(pkg)+".txt")
}
