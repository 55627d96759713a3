// Package snippets holds the test that keeps the documentation's Go code
// compiling: every ```go block of README.md and every indented code block
// of a doc.go package comment in the repository is built and vetted
// against the code as it is (issue 20: a newcomer copies these first).
//
// A snippet is compiled as a file when it starts with a package clause, as
// top-level declarations when it parses as such, and otherwise as the body
// of a function (returning error when it returns a value). Names a
// fragment uses without declaring them (ctx, db, mux, ...) are declared
// for it from a fixed list of what the docs assume, imports are added from
// the package names used, and every name a body declares at its top level
// counts as used. In README.md an HTML comment on the line before the
// fence overrides the guess:
//
//	<!-- snippet: body -->   <!-- snippet: decls -->
//	<!-- snippet: file -->   <!-- snippet: skip -->
//
// A doc comment block that parses as no Go at all and has neither := nor
// func in it is taken as output or a table, not code.
//
// A block made only of lines that a test under tests/ marks with
// routertest.Marker (and comments) is not compiled here: those are the
// lines that name chi's and gorilla/mux's routes, which this module cannot
// compile (it has neither router), and the tests/ modules compile and run
// each of them against the real routers. Compiler and vet
// messages name the README or doc.go line, through //line directives.
//
// This package lives in the examples module because the snippets use pgx
// beside the library, and the examples module has both.
package snippets
