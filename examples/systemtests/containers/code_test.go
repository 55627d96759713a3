package containers_test

import (
	"os"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/settings"
)

// examplesDir is the examples module, seen from this package's directory.
const examplesDir = "../.."

// serviceCode is what a service's code reads from its environment, found
// by reading the source (examples/systemtests/internal/settings): the deployment
// files are checked against it, so a renamed variable or a changed
// default breaks this test, not a rollout.
type serviceCode struct {
	name     string
	env      map[string]string // variable name → default, as written in the code
	httpPort string            // the default HTTP_ADDR's port
	commands map[string]bool   // subcommands main accepts: "healthcheck", "migrate"
	code     settings.Service
}

// readServiceCode reads the service's main package and the wiring it
// shares.
func readServiceCode(t *testing.T, name string) serviceCode {
	t.Helper()
	code, err := settings.Read(examplesDir, name)
	if err != nil {
		t.Fatal(err)
	}
	port, err := code.Port("HTTP_ADDR")
	if err != nil {
		t.Fatal(err)
	}
	return serviceCode{name: name, env: code.Env, httpPort: port, commands: code.Commands, code: code}
}

// duration returns the default of a duration variable, written in the code
// as a literal like 25*time.Second.
func (c serviceCode) duration(t *testing.T, key string) time.Duration {
	t.Helper()
	d, err := c.code.Duration(key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// port returns the port of the default of an address variable.
func (c serviceCode) port(t *testing.T, key string) string {
	t.Helper()
	port, err := c.code.Port(key)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// reads reports whether the service reads the variable: its own, or a
// standard OTEL_* variable read by the tracing package.
func (c serviceCode) reads(key string) bool { return c.code.Reads(key) }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path) // #nosec G304 -- the repository's own files
	if err != nil {
		t.Fatal(err)
	}
	return b
}
