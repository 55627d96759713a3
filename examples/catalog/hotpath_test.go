package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestHotPathConfig holds the parts of catalog's wiring that its load
// figures depend on, so that a merge cannot drop one silently (last
// round one dropped the log buffer and catalog fell from 0.64 to 0.42 of
// its bare twin while BENCHMARKS.md kept the old figure): the logger is
// made with a Buffer, and the traffic port's stack is tracing, logging,
// metrics, admission, in that order, around the routes.
func TestHotPathConfig(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	buffered, stack := false, ""
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Config" && ident(sel.X) == "logging" {
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok && ident(kv.Key) == "Buffer" {
						buffered = true
					}
				}
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Traffic" {
				for _, a := range n.Args[1:] {
					stack += " " + callee(a)
				}
			}
		}
		return true
	})
	if !buffered {
		t.Error("catalog's logging.Config has no Buffer: every access line would be a write(2) of its own")
	}
	if want := " tracing.Middleware logging.Middleware red admit.Middleware"; stack != want {
		t.Errorf("traffic stack%s, want%s", stack, want)
	}
}

func ident(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// callee names a middleware argument: "pkg.Func" for a call or a
// selector, the identifier otherwise.
func callee(e ast.Expr) string {
	if c, ok := e.(*ast.CallExpr); ok {
		e = c.Fun
	}
	if sel, ok := e.(*ast.SelectorExpr); ok {
		return ident(sel.X) + "." + sel.Sel.Name
	}
	return ident(e)
}
