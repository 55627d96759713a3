package memlimit

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// resize writes a new memory.max under a fake cgroup root, as the kubelet
// or `docker update` does to the real one.
func resize(t *testing.T, root, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, "sys/fs/cgroup/memory.max"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFollow(t *testing.T) {
	keepRuntimeLimit(t)
	root := tree(t, map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "134217728\n"})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	synctest.Test(t, func(t *testing.T) {
		if got := apply(root, func(string) string { return "" }); got.Limit != 128*mib/10*9 {
			t.Fatalf("apply = %+v", got)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			follow(ctx, root, func(string) string { return "" }, config{interval: 10 * time.Second, logger: logger})
		}()
		synctest.Wait() // Follow has read the limit it starts from
		steps := []struct {
			content string
			want    int64
		}{
			{"268435456\n", 256 * mib / 10 * 9}, // raised: docker update --memory 256m
			{"268435456\n", 256 * mib / 10 * 9}, // unchanged: nothing logged
			{"67108864\n", 64 * mib / 10 * 9},   // lowered
			{"max\n", math.MaxInt64},            // removed: the runtime's limit lifted
			{"garbage", math.MaxInt64},          // unreadable means none, as for Apply
			{"134217728\n", 128 * mib / 10 * 9}, // back
		}
		for _, s := range steps {
			resize(t, root, s.content)
			time.Sleep(10*time.Second + time.Millisecond) // one interval: the change is in force
			synctest.Wait()
			if got := debug.SetMemoryLimit(-1); got != s.want {
				t.Errorf("after memory.max %q: runtime limit %d, want %d", s.content, got, s.want)
			}
		}
		cancel()
		<-done // the stop path: Follow returns when ctx ends
	})
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4 (one per change):\n%s", len(lines), logs.String())
	}
	for _, want := range []string{
		"cgroup_old=134217728 cgroup_new=268435456 limit_old=120795948 limit_new=241591905",
		"cgroup_old=268435456 cgroup_new=67108864",
		"cgroup_old=67108864 cgroup_new=0 limit_old=60397974 limit_new=9223372036854775807",
		"cgroup_old=0 cgroup_new=134217728",
	} {
		if !strings.Contains(logs.String(), `msg="memory limit changed" `+want) {
			t.Errorf("no line %q in:\n%s", want, logs.String())
		}
	}
}

// A change is in force within one interval: 30 s is the bound the issue
// sets, the default is 10 s.
func TestFollowWithinInterval(t *testing.T) {
	keepRuntimeLimit(t)
	root := tree(t, map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "134217728\n"})
	synctest.Test(t, func(t *testing.T) {
		apply(root, func(string) string { return "" })
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go follow(ctx, root, func(string) string { return "" }, config{interval: defaultInterval, logger: slog.New(slog.DiscardHandler)})
		synctest.Wait()
		start := time.Now()
		time.Sleep(3 * time.Second) // a resize at an arbitrary point of the interval
		resize(t, root, "268435456\n")
		for debug.SetMemoryLimit(-1) != 256*mib/10*9 {
			time.Sleep(100 * time.Millisecond)
		}
		if took := time.Since(start) - 3*time.Second; took > defaultInterval || defaultInterval > 30*time.Second {
			t.Errorf("applied %v after the resize, want within %v (and the default at most 30s)", took, defaultInterval)
		}
	})
}

func TestFollowLeavesOthersAlone(t *testing.T) {
	tests := []struct {
		name       string
		gomemlimit string
		setByCode  int64 // debug.SetMemoryLimit by the program after Apply; 0: none
		want       int64
		wantLog    string
	}{
		{name: "GOMEMLIMIT set: returns at once", gomemlimit: "100MiB", want: 100 * mib},
		{name: "the program set its own limit", setByCode: 99 * mib, want: 99 * mib, wantLog: "memory limit not followed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keepRuntimeLimit(t)
			root := tree(t, map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "134217728\n"})
			env := func(k string) string {
				if k == "GOMEMLIMIT" {
					return tt.gomemlimit
				}
				return ""
			}
			var logs bytes.Buffer
			synctest.Test(t, func(t *testing.T) {
				if tt.gomemlimit != "" {
					debug.SetMemoryLimit(100 * mib) // what the runtime parsed from it
				}
				apply(root, env)
				if tt.setByCode > 0 {
					debug.SetMemoryLimit(tt.setByCode)
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					follow(t.Context(), root, env, config{interval: time.Second, logger: slog.New(slog.NewTextHandler(&logs, nil))})
				}()
				synctest.Wait()
				resize(t, root, "268435456\n")
				time.Sleep(2 * time.Second)
				synctest.Wait()
				select {
				case <-done: // returned on its own: nothing to follow
				default:
					t.Error("still following")
				}
				if got := debug.SetMemoryLimit(-1); got != tt.want {
					t.Errorf("runtime limit %d, want %d", got, tt.want)
				}
			})
			if !strings.Contains(logs.String(), tt.wantLog) || (tt.wantLog == "" && logs.Len() > 0) {
				t.Errorf("logged %q, want %q", logs.String(), tt.wantLog)
			}
		})
	}
}
