//go:build unix

package integration_test

import (
	"testing"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// bin holds the paths of the binaries TestMain built.
var bin e2e.Binaries

func TestMain(m *testing.M) {
	e2e.Main(m, func(dir string) (err error) {
		bin, err = e2e.Build(dir, e2e.Race)
		return err
	})
}
