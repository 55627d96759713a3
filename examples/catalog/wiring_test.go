package main

import (
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxWiring is the most lines of code catalog's wiring may take: every
// non-test file but catalog.go (the service's own routes), counted
// without blank lines and comments. The wiring is what a newcomer reads
// in one sitting before copying it; what every service repeats belongs
// in the library.
const maxWiring = 120

func TestWiringIsShort(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "catalog.go" {
			continue
		}
		n, err := codeLines(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d lines of code", name, n)
		total += n
	}
	if total == 0 || total > maxWiring {
		t.Errorf("catalog's wiring is %d lines of code, want 1 to %d: move what every service repeats into the library", total, maxWiring)
	}
}

// codeLines counts the lines of a Go file that hold a token other than a
// comment.
func codeLines(name string) (int, error) {
	src, err := os.ReadFile(name) // #nosec G304 -- this package's own files
	if err != nil {
		return 0, err
	}
	fset := token.NewFileSet()
	file := fset.AddFile(name, -1, len(src))
	var s scanner.Scanner
	var errs scanner.ErrorList
	s.Init(file, src, func(pos token.Position, msg string) { errs.Add(pos, msg) }, 0) // comments skipped
	lines := map[int]bool{}
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue // inserted at a line's end: the line counts by its own tokens
		}
		lines[file.Line(pos)] = true
	}
	return len(lines), errs.Err()
}

func TestCodeLines(t *testing.T) {
	src := "// Package x.\npackage x\n\n/* a\nblock */\nfunc f() int { // why\n\treturn 1\n}\n"
	name := filepath.Join(t.TempDir(), "x.go")
	if err := os.WriteFile(name, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := codeLines(name); err != nil || n != 4 {
		t.Errorf("codeLines = %d, %v; want 4 (package, func, return, brace)", n, err)
	}
}
