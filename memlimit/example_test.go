package memlimit_test

import (
	"fmt"
	"runtime/debug"

	"github.com/prodready/prodready/memlimit"
)

// Apply runs early in main; whatever the machine, the limit it reports is
// the one the runtime now uses, and its source says why.
func ExampleApply() {
	mem := memlimit.Apply()
	fmt.Println(mem.Limit == debug.SetMemoryLimit(-1), mem.Source != "")
	// Output: true true
}
