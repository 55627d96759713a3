package main

import (
	"bytes"
	"context"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRecipeBuildsAlone copies catalog's source, as a team would, into a
// new module outside the repository that requires only prodready, and
// builds it: the recipe needs nothing from examples/internal, which no
// other repository can import, and nothing prodready does not bring along.
func TestRecipeBuildsAlone(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sources, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	copied := 0
	for _, src := range sources {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		b, err := os.ReadFile(src) // #nosec G304 -- this package's own files
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), src, b, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); strings.Contains(path, "/examples/") && path != apiPackage {
				t.Errorf("%s imports %s, which a copy in another repository cannot", src, path)
			}
		}
		// The service's own API package comes along, under the copy's
		// module path.
		b = bytes.ReplaceAll(b, []byte(strconv.Quote(apiPackage)), []byte(strconv.Quote("example.com/catalog/catalogv1")))
		if err := os.WriteFile(filepath.Join(dir, src), b, 0o600); err != nil {
			t.Fatal(err)
		}
		copied++
	}
	if copied == 0 {
		t.Fatal("no source file to copy")
	}
	copyAPI(t, filepath.Join(dir, "catalogv1"))
	goMod := "module example.com/catalog\n\ngo 1.26.0\n\n" +
		"require github.com/prodready/prodready v0.0.0\n\n" +
		"replace github.com/prodready/prodready => " + strconv.Quote(root) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o600); err != nil {
		t.Fatal(err)
	}
	// prodready's checksums: what a team gets from `go mod tidy`, without
	// asking the checksum database for them again.
	sums, err := os.ReadFile(filepath.Join(root, "go.sum")) // #nosec G304 -- the repository's own file
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "catalog")
	// -mod=mod lets the go command add the requirements the copy imports
	// directly (zap), as `go mod tidy` would; GOWORK=off keeps the
	// repository's go.work out of it.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY="+goEnv(t, "GOPROXY"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the copy in %s: %v\n%s\ngo.mod:\n%s", dir, err, out, goMod)
	}
	// What the copy needs beyond prodready, as the go command wrote it
	// into go.mod: only what prodready's API hands back.
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod")) // #nosec G304 -- the module just written
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range directRequirements(string(mod)) {
		if !allowedDirect[req] {
			t.Errorf("the copy requires %s directly; only prodready and what its API returns (zap, Prometheus) may be needed", req)
		}
	}
	// It runs: a wrong argument is refused with the usage.
	out, err := exec.CommandContext(ctx, bin, "nonsense").CombinedOutput() // #nosec G204 -- the binary just built
	if err == nil || !strings.Contains(string(out), "usage: catalog [healthcheck]") {
		t.Errorf("the copy run with a wrong argument: %v: %s", err, out)
	}
}

// goEnv returns the go command's value of key, the environment's or its
// default.
func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output() // #nosec G204 -- a fixed go env query
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

// allowedDirect are the modules a copy of the recipe may import: prodready
// and the modules of the types its API hands back (gRPC's and protobuf's
// for the gRPC service and its generated code).
var allowedDirect = map[string]bool{
	"github.com/prodready/prodready":      true,
	"go.uber.org/zap":                     true,
	"github.com/prometheus/client_golang": true,
	"google.golang.org/grpc":              true,
	"google.golang.org/protobuf":          true,
}

// apiPackage is catalog's gRPC API: the proto and its generated code,
// which a team copies along with the service.
const apiPackage = "github.com/prodready/prodready/examples/catalog/catalogv1"

// copyAPI copies catalogv1's proto and Go files (tests left out) into dir.
func copyAPI(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("catalogv1", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range files {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		b, err := os.ReadFile(src) // #nosec G304 -- this package's own files
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// directRequirements returns the module paths a go.mod requires without
// "// indirect".
func directRequirements(mod string) []string {
	var out []string
	block := false
	for _, line := range strings.Split(mod, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "require (":
			block = true
			continue
		case block && line == ")":
			block = false
			continue
		case strings.HasPrefix(line, "require "):
			line = strings.TrimPrefix(line, "require ")
		case !block:
			continue
		}
		if fields := strings.Fields(line); len(fields) >= 2 && !strings.Contains(line, "// indirect") {
			out = append(out, fields[0])
		}
	}
	return out
}
