package memlimit_test

import (
	"fmt"
	"runtime/debug"

	"github.com/prodready/prodready/examples/internal/memlimit"
)

// Apply runs first in main; whatever the machine, the limit it reports is
// the one the runtime now uses.
func ExampleApply() {
	limit, source := memlimit.Apply()
	fmt.Println(limit == debug.SetMemoryLimit(-1), source != "")
	// Output: true true
}
