package memlimit

import (
	"log/slog"
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
		want       Result
	}{
		{
			name:    "cgroup limit, 90% to the runtime",
			files:   cgroup64,
			runtime: math.MaxInt64,
			want:    Result{Limit: 64 * mib / 10 * 9, Source: SourceCgroup, Cgroup: 64 * mib},
		},
		{
			name:       "GOMEMLIMIT wins over the cgroup, which is still reported",
			files:      cgroup64,
			gomemlimit: "50MiB",
			runtime:    50 * mib,
			want:       Result{Limit: 50 * mib, Source: SourceEnv, Cgroup: 64 * mib},
		},
		{
			name:       "GOMEMLIMIT=off is the operator's choice too",
			files:      cgroup64,
			gomemlimit: "off",
			runtime:    math.MaxInt64,
			want:       Result{Limit: math.MaxInt64, Source: SourceEnv, Cgroup: 64 * mib},
		},
		{
			name:       "GOMEMLIMIT without a cgroup limit",
			files:      map[string]string{"proc/self/cgroup": "0::/\n"},
			gomemlimit: "1GiB",
			runtime:    1 << 30,
			want:       Result{Limit: 1 << 30, Source: SourceEnv},
		},
		{
			name:    "no cgroup limit leaves the runtime alone",
			files:   map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "max\n"},
			runtime: math.MaxInt64,
			want:    Result{Limit: math.MaxInt64, Source: SourceNone},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keepRuntimeLimit(t)
			debug.SetMemoryLimit(tt.runtime)
			env := map[string]string{"GOMEMLIMIT": tt.gomemlimit}
			got := apply(tree(t, tt.files), func(k string) string { return env[k] })
			if got != tt.want {
				t.Errorf("apply = %+v, want %+v", got, tt.want)
			}
			if inForce := debug.SetMemoryLimit(-1); inForce != tt.want.Limit {
				t.Errorf("runtime limit after apply = %d, want %d", inForce, tt.want.Limit)
			}
		})
	}
}

func TestResultLogValue(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"from the cgroup", Result{Limit: 60397977, Source: SourceCgroup, Cgroup: 67108864}, "memory.limit=60397977 memory.source=cgroup memory.cgroup=67108864"},
		{"none", Result{Limit: math.MaxInt64, Source: SourceNone}, "memory.limit=9223372036854775807 memory.source=none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			h := slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key != "memory" {
					return slog.Attr{} // time, level, msg
				}
				return a
			}})
			slog.New(h).Info("", "memory", tt.r)
			if got := strings.TrimSpace(b.String()); got != tt.want {
				t.Errorf("logged %q, want %q", got, tt.want)
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
