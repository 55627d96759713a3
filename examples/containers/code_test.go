package containers_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// examplesDir is the examples module, seen from this package's directory.
const examplesDir = ".."

// serviceCode is what a service's code reads from its environment, found
// by reading the source: the deployment files are checked against it, so
// a renamed variable or a changed default breaks this test, not a rollout.
type serviceCode struct {
	name     string
	env      map[string]string // variable name → default, as written in the code
	httpPort string            // the default HTTP_ADDR's port
	commands map[string]bool   // subcommands main accepts: "healthcheck", "migrate"
}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// readServiceCode reads the service's main package and the shared
// examples/internal/service package.
func readServiceCode(t *testing.T, name string) serviceCode {
	t.Helper()
	code := serviceCode{name: name, env: map[string]string{}, commands: map[string]bool{}}
	// The service's main, the wiring it shares with the other service, and
	// the library packages that read variables themselves (logging reads
	// LOG_LEVEL).
	for _, dir := range []string{name, "internal/service", "../logging"} {
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join(examplesDir, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					code.addCall(n)
				case *ast.BinaryExpr:
					// args[0] == "healthcheck"
					if lit, ok := stringLit(n.Y); ok && n.Op == token.EQL && isArgsIndex(n.X) {
						code.commands[lit] = true
					}
				}
				return true
			})
		}
	}
	if len(code.env) == 0 {
		t.Fatalf("found no environment variables in the code of %s: has the way it reads them changed?", name)
	}
	if code.httpPort == "" {
		t.Fatalf("found no service.FromEnv call with a literal HTTP address in %s", name)
	}
	return code
}

func (c *serviceCode) addCall(call *ast.CallExpr) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || len(call.Args) == 0 {
		return
	}
	switch sel.Sel.Name {
	case "Getenv", "LookupEnv": // os.Getenv("LOG_LEVEL")
		if key, ok := stringLit(call.Args[0]); ok && envName.MatchString(key) {
			c.env[key] = `""`
		}
	case "String", "Duration", "Bool", "Int":
		key, ok := stringLit(call.Args[0])
		if !ok || !envName.MatchString(key) || len(call.Args) < 2 {
			return
		}
		c.env[key] = exprText(call.Args[1])
	case "FromEnv": // service.FromEnv(&e, "catalog", ":8080")
		if len(call.Args) == 3 {
			if addr, ok := stringLit(call.Args[2]); ok {
				if _, port, err := net.SplitHostPort(addr); err == nil {
					c.httpPort = port
				}
			}
		}
	}
}

// duration returns the default of a duration variable, written in the code
// as a literal like 25*time.Second.
func (c serviceCode) duration(t *testing.T, key string) time.Duration {
	t.Helper()
	text, ok := c.env[key]
	if !ok {
		t.Fatalf("%s does not read %s", c.name, key)
	}
	d, err := time.ParseDuration(strings.NewReplacer("*time.Second", "s", "*time.Millisecond", "ms", "*time.Minute", "m", "time.Second", "1s").Replace(text))
	if err != nil {
		t.Fatalf("default of %s in %s is %q, not a duration literal this test can read: %v", key, c.name, text, err)
	}
	return d
}

// port returns the port of the default of an address variable.
func (c serviceCode) port(t *testing.T, key string) string {
	t.Helper()
	if key == "HTTP_ADDR" {
		return c.httpPort
	}
	addr, err := strconv.Unquote(c.env[key])
	if err != nil {
		t.Fatalf("default of %s in %s is %q, not a string literal", key, c.name, c.env[key])
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("default of %s in %s: %v", key, c.name, err)
	}
	return port
}

// reads reports whether the service reads the variable: its own, or a
// standard OTEL_* variable read by the tracing package.
func (c serviceCode) reads(key string) bool {
	_, ok := c.env[key]
	return ok || strings.HasPrefix(key, "OTEL_")
}

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

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path) // #nosec G304 -- the repository's own files
	if err != nil {
		t.Fatal(err)
	}
	return b
}
