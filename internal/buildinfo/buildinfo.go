// Package buildinfo is the version of the running binary as its build
// recorded it, read once, for the packages that label their output with
// a version when the service names none (logging's "version" field,
// tracing's service.version): the two then agree with each other and with
// metrics' build_info.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Version is the main module's version ("v1.4.2" when built with go
// install from a tag), else the first 12 digits of the VCS revision of a
// build from a checkout, else "": a build that recorded neither (go run,
// go test, -buildvcs=false) has no version to tell.
var Version = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return fromInfo(info)
})

func fromInfo(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return ""
}
