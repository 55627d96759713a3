package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

const mib = int64(1) << 20

// tree writes files (slash-separated paths relative to a new root) and
// returns the root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// keepRuntimeLimit restores the process's memory limit after a test that
// changes it.
func keepRuntimeLimit(t *testing.T) {
	t.Helper()
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
}

func TestCgroupLimit(t *testing.T) {
	const v1Unlimited = "9223372036854771712\n"
	tests := []struct {
		name   string
		files  map[string]string
		want   int64
		wantOK bool
	}{
		{
			name: "v2 container with its own cgroup namespace",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"sys/fs/cgroup/memory.max": "67108864\n",
			},
			want: 64 * mib, wantOK: true,
		},
		{
			name: "v2 max means no limit",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"sys/fs/cgroup/memory.max": "max\n",
			},
		},
		{
			name: "v2 nested: the parent's smaller limit binds",
			files: map[string]string{
				"proc/self/cgroup":                           "0::/kubepods/pod1/ctr\n",
				"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "max\n",
				"sys/fs/cgroup/kubepods/pod1/memory.max":     "134217728\n",
				"sys/fs/cgroup/kubepods/memory.max":          "1073741824\n",
			},
			want: 128 * mib, wantOK: true,
		},
		{
			name: "v2 nested: the leaf's smaller limit binds",
			files: map[string]string{
				"proc/self/cgroup": "0::/system.slice/app.service\n",
				"sys/fs/cgroup/system.slice/app.service/memory.max": "268435456\n",
				"sys/fs/cgroup/system.slice/memory.max":             "max\n",
			},
			want: 256 * mib, wantOK: true,
		},
		{
			name: "v2 path that climbs out of the mount is confined to it",
			files: map[string]string{
				"proc/self/cgroup":         "0::/../../etc\n",
				"sys/fs/cgroup/memory.max": "67108864\n",
			},
			want: 64 * mib, wantOK: true,
		},
		{
			name: "v2 garbage means no limit",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"sys/fs/cgroup/memory.max": "lots\n",
			},
		},
		{
			name: "v1 container: own cgroup mounted at the root, host path in proc",
			files: map[string]string{
				"proc/self/cgroup":                           "12:memory:/docker/0123abcd\n11:cpu,cpuacct:/docker/0123abcd\n0::/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": "67108864\n",
				"sys/fs/cgroup/memory/memory.stat":           "cache 0\nhierarchical_memory_limit 67108864\n",
			},
			want: 64 * mib, wantOK: true,
		},
		{
			name: "v1 host: the process's own cgroup directory",
			files: map[string]string{
				"proc/self/cgroup":                                           "4:memory:/process_api/abc\n0::/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes":                 v1Unlimited,
				"sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": "536870912\n",
			},
			want: 512 * mib, wantOK: true,
		},
		{
			name: "v1 unlimited",
			files: map[string]string{
				"proc/self/cgroup":                           "4:memory:/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": v1Unlimited,
				"sys/fs/cgroup/memory/memory.stat":           "hierarchical_memory_limit " + v1Unlimited,
			},
		},
		{
			name: "v1 unlimited here, limited by an ancestor",
			files: map[string]string{
				"proc/self/cgroup":                           "4:memory:/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": v1Unlimited,
				"sys/fs/cgroup/memory/memory.stat":           "rss 10\nhierarchical_memory_limit 104857600\n",
			},
			want: 100 * mib, wantOK: true,
		},
		{
			name: "hybrid host: v2 line without a memory controller falls through to v1",
			files: map[string]string{
				"proc/self/cgroup":                           "4:memory:/\n0::/\n",
				"sys/fs/cgroup/unified/cgroup.procs":         "1\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": "33554432\n",
			},
			want: 32 * mib, wantOK: true,
		},
		{
			name: "no proc file: the mount roots are still read",
			files: map[string]string{
				"sys/fs/cgroup/memory.max": "67108864",
			},
			want: 64 * mib, wantOK: true,
		},
		{
			name:  "no cgroup files at all",
			files: map[string]string{"proc/self/cgroup": "0::/\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cgroupLimit(tree(t, tt.files))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("cgroupLimit = %d, %t; want %d, %t", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{in: "67108864\n", want: 64 * mib, wantOK: true},
		{in: "  4096  ", want: 4096, wantOK: true},
		{in: "max\n"},
		{in: ""},
		{in: "\n"},
		{in: "0"},
		{in: "-1"},
		{in: "12abc"},
		{in: "0x4000"},
		{in: "9223372036854771712"},
		{in: "9223372036854775807"},
		{in: "99999999999999999999999"},
		{in: "4611686018427387903", want: 4611686018427387903, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, ok := parseLimit([]byte(tt.in))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseLimit(%q) = %d, %t; want %d, %t", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestApply(t *testing.T) {
	cgroup64 := map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"sys/fs/cgroup/memory.max": "67108864\n",
	}
	tests := []struct {
		name       string
		files      map[string]string
		gomemlimit string
		runtime    int64 // the runtime's limit before Apply, as GOMEMLIMIT would have set it
		want       int64
		wantSource string
	}{
		{
			name:       "cgroup limit, 90% to the runtime",
			files:      cgroup64,
			runtime:    math.MaxInt64,
			want:       64 * mib / 10 * 9,
			wantSource: SourceCgroup,
		},
		{
			name:       "GOMEMLIMIT wins over the cgroup",
			files:      cgroup64,
			gomemlimit: "50MiB",
			runtime:    50 * mib,
			want:       50 * mib,
			wantSource: SourceEnv,
		},
		{
			name:       "GOMEMLIMIT=off is the operator's choice too",
			files:      cgroup64,
			gomemlimit: "off",
			runtime:    math.MaxInt64,
			want:       math.MaxInt64,
			wantSource: SourceEnv,
		},
		{
			name:       "no cgroup limit leaves the runtime alone",
			files:      map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "max\n"},
			runtime:    math.MaxInt64,
			want:       math.MaxInt64,
			wantSource: SourceNone,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keepRuntimeLimit(t)
			debug.SetMemoryLimit(tt.runtime)
			env := map[string]string{"GOMEMLIMIT": tt.gomemlimit}
			got, source := apply(tree(t, tt.files), func(k string) string { return env[k] })
			if got != tt.want || source != tt.wantSource {
				t.Errorf("apply = %d, %q; want %d, %q", got, source, tt.want, tt.wantSource)
			}
			if inForce := debug.SetMemoryLimit(-1); inForce != tt.want {
				t.Errorf("runtime limit after apply = %d, want %d", inForce, tt.want)
			}
		})
	}
}

func TestSelfCgroups(t *testing.T) {
	tests := []struct {
		name, in, v2, v1 string
	}{
		{name: "v2 only", in: "0::/user.slice\n", v2: "/user.slice"},
		{name: "v1 with combined controllers", in: "5:cpuset:/\n4:blkio,memory:/docker/x\n", v1: "/docker/x"},
		{name: "hybrid", in: "4:memory:/a\n0::/b\n", v2: "/b", v1: "/a"},
		{name: "named hierarchy is not memory", in: "9:name=systemd:/s\n", v2: "", v1: ""},
		{name: "garbage lines ignored", in: "junk\n1\n::\n0:memory\n4:memory:/ok\n", v2: "", v1: "/ok"},
		{name: "path with colons kept whole", in: "0::/a:b\n", v2: "/a:b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v2, v1 := selfCgroups([]byte(tt.in))
			if v2 != tt.v2 || v1 != tt.v1 {
				t.Errorf("selfCgroups = %q, %q; want %q, %q", v2, v1, tt.v2, tt.v1)
			}
		})
	}
}

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
