package memlimit

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseLimit: cgroup files are written by the kernel, but the parser
// is also handed whatever a container runtime or a test double puts there.
// A limit it accepts is always a usable positive number that survives a
// round trip; nothing panics.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"67108864\n", "max\n", "", "9223372036854771712", "-5", "1e9", " 42 ", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseLimit(b)
		if !ok {
			if v != 0 {
				t.Fatalf("parseLimit(%q) = %d with ok false", b, v)
			}
			return
		}
		if v <= 0 || v >= unlimited {
			t.Fatalf("parseLimit(%q) = %d, outside (0, %d)", b, v, unlimited)
		}
		if again, ok := parseLimit([]byte(strconv.FormatInt(v, 10))); !ok || again != v {
			t.Fatalf("round trip of %d gave %d, %t", v, again, ok)
		}
		if share := v / 10 * share; share < 0 || share > v {
			t.Fatalf("runtime share %d of %d out of range", share, v)
		}
	})
}

// FuzzSelfCgroups: /proc/self/cgroup lines are split on colons; paths may
// contain anything, and a joined path must never leave the cgroup mount.
func FuzzSelfCgroups(f *testing.F) {
	for _, s := range []string{"0::/\n", "4:memory:/docker/x\n0::/\n", "::::\n", "0::/../../..\n", "4:memory:../../etc\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v2, v1 := selfCgroups(b)
		for _, p := range []string{v2, v1} {
			c := cleanCgroupPath(p)
			if !strings.HasPrefix(c, "/") {
				t.Fatalf("cleanCgroupPath(%q) = %q, not absolute", p, c)
			}
			rel, err := filepath.Rel("/mnt", filepath.Join("/mnt", filepath.FromSlash(c)))
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("path %q escapes the mount as %q", p, rel)
			}
		}
	})
}

// FuzzHierarchicalLimit: cgroup v1's memory.stat is "name value" lines;
// whatever it holds, the parser finds hierarchical_memory_limit only on a
// line of that exact name, gives a limit only when parseLimit accepts the
// value, and never panics.
func FuzzHierarchicalLimit(f *testing.F) {
	for _, s := range []string{
		"cache 0\nrss 10\nhierarchical_memory_limit 67108864\n",
		"hierarchical_memory_limit 9223372036854771712\n",
		"hierarchical_memory_limit\n",
		"hierarchical_memory_limit  67108864",
		"xhierarchical_memory_limit 5\n",
		"\n\n\x00 \r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := hierarchicalLimit(b)
		if !ok {
			if v != 0 {
				t.Fatalf("hierarchicalLimit(%q) = %d with ok false", b, v)
			}
			return
		}
		if v <= 0 || v >= unlimited {
			t.Fatalf("hierarchicalLimit(%q) = %d, outside (0, %d)", b, v, unlimited)
		}
		found := false
		for line := range strings.SplitSeq(string(b), "\n") {
			name, value, _ := strings.Cut(strings.TrimSuffix(line, "\r"), " ")
			if lv, lok := parseLimit([]byte(value)); name == "hierarchical_memory_limit" && lok && lv == v {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("hierarchicalLimit(%q) = %d, from no hierarchical_memory_limit line", b, v)
		}
	})
}

// FuzzCgroupFiles: the whole lookup over a cgroup v2 tree (memory.max at
// the mount and in the child "a") or a v1 tree (memory.limit_in_bytes and
// memory.stat at the mount, memory.limit_in_bytes in "a"), with
// /proc/self/cgroup and every file holding fuzzed bytes: whatever they
// hold, nothing panics and a limit found is one of the values written.
func FuzzCgroupFiles(f *testing.F) {
	f.Add(true, []byte("0::/a\n"), []byte("67108864\n"), []byte("max\n"), []byte(""))
	f.Add(true, []byte("0::/../a/./\n"), []byte("max"), []byte("134217728"), []byte(""))
	f.Add(false, []byte("4:memory:/a\n"), []byte("9223372036854771712\n"), []byte("1\n"), []byte("cache 0\nhierarchical_memory_limit 33554432\n"))
	f.Add(false, []byte(""), []byte("garbage"), []byte("-5"), []byte("hierarchical_memory_limit max"))
	f.Fuzz(func(t *testing.T, v2 bool, self, a, b, stat []byte) {
		files := map[string][]byte{"proc/self/cgroup": self}
		candidates := []int64{}
		if v2 {
			files["sys/fs/cgroup/memory.max"] = a
			files["sys/fs/cgroup/a/memory.max"] = b
		} else {
			files["sys/fs/cgroup/memory/memory.limit_in_bytes"] = a
			files["sys/fs/cgroup/memory/memory.stat"] = stat
			files["sys/fs/cgroup/memory/a/memory.limit_in_bytes"] = b
			if v, ok := hierarchicalLimit(stat); ok {
				candidates = append(candidates, v)
			}
		}
		for _, c := range [][]byte{a, b} {
			if v, ok := parseLimit(c); ok {
				candidates = append(candidates, v)
			}
		}
		root := t.TempDir()
		for name, content := range files {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		got, ok := cgroupLimit(root)
		if !ok {
			if got != 0 {
				t.Fatalf("cgroupLimit = %d with ok false", got)
			}
			return
		}
		if !slices.Contains(candidates, got) {
			t.Fatalf("cgroupLimit = %d, not one of the values written %v", got, candidates)
		}
	})
}
