// Package buildinfo is the one place the version and revision of the
// running binary come from, so that the log lines (logging.New), the
// build_info series (metrics.NewRegistry) and the trace resource
// (tracing.Setup) say the same thing without the service setting it three
// times.
//
// The go command stamps both into every binary built from a module in a
// VCS checkout (the main module's version, from a tag since Go 1.24, and
// vcs.revision). A build without the checkout (a Docker build context
// without .git) sets them once with the linker:
//
//	go build -ldflags "-X github.com/prodready/prodready/internal/buildinfo.version=v1.4.2 \
//	    -X github.com/prodready/prodready/internal/buildinfo.revision=$(git rev-parse HEAD)"
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Set with -ldflags -X; empty means "from the build information".
var version, revision string

var read = sync.OnceValues(func() (string, string) {
	v, rev := version, revision
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v, rev
	}
	if v == "" {
		v = bi.Main.Version // "(devel)" for an untagged build of the main module
	}
	if rev == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	return v, rev
})

// Version returns the binary's version: the linker's, else the main
// module's, else "".
func Version() string { v, _ := read(); return v }

// Revision returns the binary's VCS revision: the linker's, else the one
// the go command stamped, else "".
func Revision() string { _, r := read(); return r }
