package memlimit

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// Source says where the limit in force after [Apply] came from.
type Source string

// The sources of a [Result].
const (
	SourceEnv    Source = "GOMEMLIMIT" // the GOMEMLIMIT environment variable; left as the runtime parsed it
	SourceCgroup Source = "cgroup"     // a share of the cgroup memory limit
	SourceNone   Source = "none"       // no limit found; the runtime's value is unchanged
)

// Result is what [Apply] did, for the caller to log once at start.
type Result struct {
	// Limit is the Go runtime's soft memory limit in force after Apply, in
	// bytes: math.MaxInt64 when there is none.
	Limit int64
	// Source says where Limit came from.
	Source Source
	// Cgroup is the memory limit of the process's cgroup in bytes, 0 when
	// it has none. It is read even when GOMEMLIMIT is set, so that a log
	// line shows a GOMEMLIMIT above the limit the kernel enforces.
	Cgroup int64
}

// LogValue logs a Result as a group: limit, source, and cgroup when there
// is one.
func (r Result) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Int64("limit", r.Limit), slog.String("source", string(r.Source))}
	if r.Cgroup > 0 {
		attrs = append(attrs, slog.Int64("cgroup", r.Cgroup))
	}
	return slog.GroupValue(attrs...)
}

// share is the part of the cgroup limit given to the Go runtime, in tenths;
// the rest is headroom for memory the runtime does not count (see the
// package documentation).
const share = 9

// unlimited is the threshold above which a cgroup limit means "none":
// cgroup v1 reports no limit as 9223372036854771712 (the largest int64
// rounded down to a page), and no machine has 4 EiB of memory.
const unlimited = int64(1) << 62

// Apply sets the Go runtime's soft memory limit to 90% of the cgroup
// memory limit, unless GOMEMLIMIT is set, and reports what is now in force
// and why. It is meant to be called once, at the start of main, after the
// logger exists so that the Result can be logged. Without a cgroup limit
// (outside a container, or a container without one) it changes nothing.
func Apply() Result {
	return apply("/", os.Getenv)
}

func apply(root string, getenv func(string) string) Result {
	cg, ok := cgroupLimit(root)
	if !ok {
		cg = 0
	}
	switch {
	case getenv("GOMEMLIMIT") != "":
		return Result{Limit: debug.SetMemoryLimit(-1), Source: SourceEnv, Cgroup: cg}
	case !ok:
		return Result{Limit: debug.SetMemoryLimit(-1), Source: SourceNone}
	}
	limit := cg / 10 * share
	debug.SetMemoryLimit(limit)
	return Result{Limit: limit, Source: SourceCgroup, Cgroup: cg}
}

// cgroupLimit returns the memory limit of the calling process's cgroup,
// looking under root (a directory holding proc/ and sys/; "/" outside
// tests). cgroup v2 comes first: on a hybrid host /proc/self/cgroup has a
// v2 line as well, but its unified hierarchy has no memory controller, so
// no memory.max file is found there and v1 is read.
func cgroupLimit(root string) (int64, bool) {
	v2Path, v1Path := selfCgroups(readFile(filepath.Join(root, "proc/self/cgroup")))
	if limit, found, ok := v2Limit(filepath.Join(root, "sys/fs/cgroup"), v2Path); found {
		return limit, ok
	}
	return v1Limit(filepath.Join(root, "sys/fs/cgroup/memory"), v1Path)
}

// v2Limit walks from the process's cgroup up to the root of the mounted
// hierarchy and returns the smallest memory.max on the way: a parent's
// limit binds its children. In a container with its own cgroup namespace
// the path is "/" and only the mount's root is read. found reports whether
// any memory.max file exists (whether this is a cgroup v2 memory
// hierarchy at all).
func v2Limit(mount, cgPath string) (limit int64, found, ok bool) {
	for p := cleanCgroupPath(cgPath); ; p = path.Dir(p) {
		b, err := os.ReadFile(filepath.Join(mount, filepath.FromSlash(p), "memory.max")) // #nosec G304 -- a fixed file name under the cgroup mount
		if err == nil {
			found = true
			if v, isLimit := parseLimit(b); isLimit && (!ok || v < limit) {
				limit, ok = v, true
			}
		}
		if p == "/" {
			return limit, found, ok
		}
	}
}

// v1Limit reads the memory controller's limit. Docker and Kubernetes on
// cgroup v1 mount the container's own cgroup at /sys/fs/cgroup/memory
// while /proc/self/cgroup still shows the host's path for it, so the
// joined path is tried first and the mount's root second.
// hierarchical_memory_limit in memory.stat is the smallest limit along the
// path to the root, which memory.limit_in_bytes alone does not show.
func v1Limit(mount, cgPath string) (int64, bool) {
	dirs := []string{mount}
	if p := cleanCgroupPath(cgPath); p != "/" {
		dirs = []string{filepath.Join(mount, filepath.FromSlash(p)), mount}
	}
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes")) // #nosec G304 -- a fixed file name under the cgroup mount
		if err != nil {
			continue
		}
		limit, ok := parseLimit(b)
		if h, hok := hierarchicalLimit(readFile(filepath.Join(dir, "memory.stat"))); hok && (!ok || h < limit) {
			limit, ok = h, true
		}
		return limit, ok
	}
	return 0, false
}

// parseLimit parses the content of memory.max or memory.limit_in_bytes.
// ok is false for "max", for anything that is not a positive decimal
// integer and for values at or above unlimited.
func parseLimit(b []byte) (limit int64, ok bool) {
	s := string(bytes.TrimSpace(b))
	if s == "" || s == "max" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v >= unlimited {
		return 0, false
	}
	return v, true
}

// hierarchicalLimit finds "hierarchical_memory_limit N" in a cgroup v1
// memory.stat.
func hierarchicalLimit(stat []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == "hierarchical_memory_limit" {
			return parseLimit([]byte(value))
		}
	}
	return 0, false
}

// selfCgroups parses /proc/self/cgroup ("hierarchy-ID:controllers:path"
// per line) into the cgroup v2 path (hierarchy 0, no controllers) and the
// path of the v1 hierarchy that has the memory controller.
func selfCgroups(b []byte) (v2, v1 string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		controllers, p, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			v2 = p
		case hasController(controllers, "memory"):
			v1 = p
		}
	}
	return v2, v1
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// cleanCgroupPath makes a cgroup path from /proc/self/cgroup safe to join
// under the mount: absolute, cleaned, so ".." cannot climb out of it.
func cleanCgroupPath(p string) string {
	return path.Clean("/" + p)
}

// readFile returns the file's content, or nil when it cannot be read: every
// caller treats a missing file as "no information".
func readFile(name string) []byte {
	b, err := os.ReadFile(name) // #nosec G304 -- fixed proc and cgroup file names under the given root
	if err != nil {
		return nil
	}
	return b
}
