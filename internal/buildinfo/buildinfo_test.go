package buildinfo

import (
	"runtime/debug"
	"testing"
)

// TestFromBuildInfo: without linker values, the version is the main
// module's as the go command recorded it ("(devel)" under go test).
func TestFromBuildInfo(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information in a test binary")
	}
	if got := Version(); got != bi.Main.Version || got == "" {
		t.Errorf("Version() = %q, want the main module's %q", got, bi.Main.Version)
	}
}
