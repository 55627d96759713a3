// Package settings finds, in a service's source, the environment
// variables it reads and their defaults. The code that reads them is the
// one source of the settings: each main's package comment, the README's
// table of settings and server.Config's field comments are held to it by
// this package's tests, and the deployment files (compose, Kubernetes, the
// Dockerfile) by examples/systemtests/containers.
//
// A variable is found where it is read with a literal name: a call
// r.String("NAME", default), r.Duration(...), r.Bool(...) or r.Int(...) on
// any reader (internal/env's, which server.FromEnv and orders use), and
// os.Getenv("NAME") or os.LookupEnv("NAME") in the library packages that
// read one themselves (logging reads LOG_LEVEL), and cmp.Or(os.Getenv("NAME"),
// default) in a service (catalog's GRPC_ADDR). The edge's variables are
// read by server.FromEnv, whose argument is the service's default
// HTTP_ADDR.
package settings

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Service is what a service's code reads from its environment.
type Service struct {
	Name string
	// Env maps each variable to its default as written in the code:
	// `":8080"`, `25*time.Second`, `false`; `""` for a library's Getenv.
	Env map[string]string
	// Commands are the subcommands main accepts (args[0] == "healthcheck").
	Commands map[string]bool
}

// serverPackage reads the edge's settings (server.FromEnv); a service that
// imports it reads its variables too.
const serverPackage = "github.com/prodready/prodready/server"

// Name is the form of an environment variable's name.
var Name = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// Read reads the main package of service (a directory of examplesDir),
// the shared wiring when it imports it, and the library's logging
// package.
func Read(examplesDir, service string) (Service, error) {
	s := Service{Name: service, Env: map[string]string{}, Commands: map[string]bool{}}
	var httpAddr string // from server.FromEnv's argument
	dirs := []string{service, "../logging"}
	for i := 0; i < len(dirs); i++ {
		files, err := filepath.Glob(filepath.Join(examplesDir, dirs[i], "*.go"))
		if err != nil {
			return Service{}, err
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return Service{}, err
			}
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == serverPackage && i == 0 && !slices.Contains(dirs, "../server") {
					dirs = append(dirs, "../server")
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if addr := s.addCall(n); addr != "" {
						httpAddr = addr
					}
				case *ast.BinaryExpr:
					// args[0] == "healthcheck"
					if lit, ok := stringLit(n.Y); ok && n.Op == token.EQL && isArgsIndex(n.X) {
						s.Commands[lit] = true
					}
				}
				return true
			})
		}
	}
	if httpAddr != "" {
		s.Env["HTTP_ADDR"] = httpAddr
	}
	if len(s.Env) == 0 {
		return Service{}, fmt.Errorf("found no environment variables in the code of %s: has the way it reads them changed?", service)
	}
	return s, nil
}

// addCall records the variable call reads, and returns the literal
// httpAddr argument of a server.FromEnv call.
func (s *Service) addCall(call *ast.CallExpr) (httpAddr string) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || len(call.Args) == 0 {
		return ""
	}
	switch sel.Sel.Name {
	case "Getenv", "LookupEnv": // os.Getenv("LOG_LEVEL")
		if key, ok := stringLit(call.Args[0]); ok && Name.MatchString(key) {
			if _, seen := s.Env[key]; !seen { // cmp.Or around it gave the default
				s.Env[key] = `""`
			}
		}
	case "Or": // cmp.Or(os.Getenv("GRPC_ADDR"), ":9000")
		inner, ok := call.Args[0].(*ast.CallExpr)
		if !ok || len(call.Args) != 2 || len(inner.Args) != 1 {
			return ""
		}
		if sel, ok := inner.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Getenv" {
			if key, ok := stringLit(inner.Args[0]); ok && Name.MatchString(key) {
				s.Env[key] = exprText(call.Args[1])
			}
		}
	case "String", "Duration", "Bool", "Int":
		key, ok := stringLit(call.Args[0])
		if !ok || !Name.MatchString(key) || len(call.Args) < 2 {
			return ""
		}
		s.Env[key] = exprText(call.Args[1])
	case "FromEnv": // server.FromEnv(":8081")
		if len(call.Args) == 1 {
			if _, ok := stringLit(call.Args[0]); ok {
				return exprText(call.Args[0])
			}
		}
	}
	return ""
}

// Duration returns the default of a duration variable, written in the
// code as a literal like 25*time.Second.
func (s Service) Duration(key string) (time.Duration, error) {
	text, ok := s.Env[key]
	if !ok {
		return 0, fmt.Errorf("%s does not read %s", s.Name, key)
	}
	d, err := time.ParseDuration(strings.NewReplacer("*time.Second", "s", "*time.Millisecond", "ms", "*time.Minute", "m", "time.Second", "1s").Replace(text))
	if err != nil {
		return 0, fmt.Errorf("default of %s in %s is %q, not a duration literal: %w", key, s.Name, text, err)
	}
	return d, nil
}

// Port returns the port of the default of an address variable.
func (s Service) Port(key string) (string, error) {
	addr, err := strconv.Unquote(s.Env[key])
	if err != nil {
		return "", fmt.Errorf("default of %s in %s is %q, not a string literal", key, s.Name, s.Env[key])
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("default of %s in %s: %w", key, s.Name, err)
	}
	return port, nil
}

// Reads reports whether the service reads the variable: its own, or a
// standard OTEL_* variable read by the tracing package.
func (s Service) Reads(key string) bool {
	_, ok := s.Env[key]
	return ok || strings.HasPrefix(key, "OTEL_")
}

// Default returns the default of key as the documentation writes it: a
// string without its quotes ("none" for the empty string), a duration as
// Go prints it (25s), anything else as written in the code. The variables
// a library package reads itself have the library's default.
func (s Service) Default(key string) string {
	if def, ok := libraryDefaults[key]; ok {
		return def
	}
	text := s.Env[key]
	if v, err := strconv.Unquote(text); err == nil {
		if v == "" {
			return "none"
		}
		return v
	}
	if d, err := s.Duration(key); err == nil {
		return d.String()
	}
	return text
}

// libraryDefaults are the defaults of the variables a library package
// reads with os.Getenv, where the code shows no default.
var libraryDefaults = map[string]string{"LOG_LEVEL": "info"}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func isArgsIndex(e ast.Expr) bool {
	idx, ok := e.(*ast.IndexExpr)
	if !ok {
		return false
	}
	id, ok := idx.X.(*ast.Ident)
	return ok && id.Name == "args"
}

func exprText(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Value
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprText(e.X) + "." + e.Sel.Name
	case *ast.BinaryExpr:
		return exprText(e.X) + e.Op.String() + exprText(e.Y)
	}
	return "?"
}
