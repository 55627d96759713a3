//go:build unix

package containers_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMemoryLimitFollowsResize: catalog in a real 128 MiB memory cgroup
// hands 90% of it to the Go runtime; `docker update --memory 256m`
// (what Kubernetes' in-place resize does to the cgroup) is followed
// within 30 s, logged old -> new and shown on /metrics as
// go_gc_gomemlimit_bytes, with the same process: no restart. Before
// memlimit.Follow, GOMEMLIMIT stayed at the first 115 MiB for good.
func TestMemoryLimitFollowsResize(t *testing.T) {
	imgs := images(t)
	id := run(t, randomName("catalog-resize"), "--memory", "128m", "--memory-swap", "128m",
		"--health-interval", "1s", "-p", "127.0.0.1::9090", imgs.catalog)
	waitHealthy(t, id, time.Minute)
	admin := hostPort(t, id, "9090")
	const before, after = 128 << 20 / 10 * 9, 256 << 20 / 10 * 9
	if got := gomemlimit(t, admin); got != before {
		t.Fatalf("go_gc_gomemlimit_bytes %d at start, want %d (90%% of 128 MiB)", got, before)
	}
	started := inspectState(t, id).StartedAt

	resized := time.Now()
	docker(t, "update", "--memory", "256m", "--memory-swap", "256m", id)
	if !eventually(30*time.Second, func() bool { return gomemlimit(t, admin) == after }) {
		t.Fatalf("go_gc_gomemlimit_bytes %d 30s after the resize, want %d", gomemlimit(t, admin), after)
	}
	t.Logf("the new limit in force %v after docker update", time.Since(resized).Round(100*time.Millisecond))
	// The line is info level: catalog's log Buffer writes it out within
	// its flush interval (100 ms), which may end after the new limit
	// shows on /metrics.
	var line map[string]any
	eventually(5*time.Second, func() bool {
		line = findLog(logLines(t, id), "memory limit changed")
		return line != nil
	})
	if line == nil || line["limit_old"] != float64(before) || line["limit_new"] != float64(after) ||
		line["cgroup_old"] != float64(128<<20) || line["cgroup_new"] != float64(256<<20) {
		t.Errorf("log line %v, want limit_old %d, limit_new %d and the cgroup's 128 -> 256 MiB", line, before, after)
	}
	if st := inspectState(t, id); !st.Running || st.StartedAt != started {
		t.Errorf("the container restarted: %+v (started %s)", st, started)
	}
}

var gomemlimitLine = regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes ([0-9.e+]+)$`)

// gomemlimit reads go_gc_gomemlimit_bytes from catalog's /metrics.
func gomemlimit(t *testing.T, admin string) int64 {
	t.Helper()
	_, body := get(t, "http://"+admin+"/metrics")
	m := gomemlimitLine.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no go_gc_gomemlimit_bytes on /metrics")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(v)
}

// TestHeaderFloodInMemoryCgroup: catalog as the manifests run it (a
// 128 MiB memory cgroup), against waves of 5000 connections each sending
// request headers just under the server's limit and never ending them. The connection cap's memory budget
// (a quarter of GOMEMLIMIT at a measured cost per connection) keeps what
// they hold bounded: /livez answers every probe within a second, the
// container is not OOM-killed and the process does not restart.
// Before: 64 KiB headers and a cap counted in descriptors only; 2500 such
// connections took the container to its limit and /livez failed.
func TestHeaderFloodInMemoryCgroup(t *testing.T) {
	imgs := images(t)
	id := run(t, randomName("catalog-flood"), "--memory", "128m", "--memory-swap", "128m",
		"--health-interval", "1s", "-p", "127.0.0.1::9090", imgs.catalog)
	waitHealthy(t, id, time.Minute)
	admin := hostPort(t, id, "9090")
	// Straight to the container's address: Docker's userland proxy would
	// hold two descriptors and goroutines of its own per connection.
	ip := docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id)
	traffic := net.JoinHostPort(ip, "8080")
	started := inspectState(t, id).StartedAt

	// Headers in 1 KiB lines up to 15 KiB, under server.New's 16 KiB.
	var head strings.Builder
	head.WriteString("GET /products HTTP/1.1\r\nHost: catalog\r\n")
	for i := 0; head.Len() < 15<<10; i++ {
		fmt.Fprintf(&head, "X-Fill-%d: %s\r\n", i, strings.Repeat("a", 1000))
	}
	// Waves, as the red team sent them: every 4s (under the 5s header
	// timeout that ends each connection) conns new connections, the old
	// ones closed.
	const conns, wave = 5000, 4 * time.Second
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil || nofile.Cur < conns+512 {
		t.Fatalf("this test holds %d connections at once; RLIMIT_NOFILE is %d (%v)", conns, nofile.Cur, err)
	}
	stop := make(chan struct{})
	attack := make(chan int, 1)
	go func() {
		opened := 0
		defer func() { attack <- opened }()
		for {
			began := time.Now()
			held := make([]net.Conn, 0, conns)
			for len(held) < conns && time.Since(began) < wave {
				c, err := net.DialTimeout("tcp", traffic, time.Second)
				if err != nil {
					continue
				}
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := io.WriteString(c, head.String()); err != nil {
					_ = c.Close()
					continue
				}
				opened++
				held = append(held, c)
			}
			select {
			case <-stop:
			case <-time.After(wave - time.Since(began)):
			}
			for _, c := range held {
				_ = c.Close()
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()

	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var failed []string
	for i := range 8 {
		time.Sleep(time.Second) // kubelet's period, shortened
		start := time.Now()
		resp, err := probe.Get("http://" + admin + "/livez")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s", resp.Status)
			}
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("probe %d: %v after %v", i, err, time.Since(start).Round(time.Millisecond)))
		}
	}
	close(stop)
	opened := <-attack
	var st struct {
		OOMKilled    bool
		Running      bool
		StartedAt    string
		RestartCount int
	}
	st.RestartCount = -1
	if out := docker(t, "inspect", "-f", "{{.State.OOMKilled}} {{.State.Running}} {{.State.StartedAt}} {{.RestartCount}}", id); true {
		_, _ = fmt.Sscan(out, &st.OOMKilled, &st.Running, &st.StartedAt, &st.RestartCount)
	}
	t.Logf("%d connections with unfinished 15 KiB headers opened; /livez failed %d of 8 probes; %+v", opened, len(failed), st)
	if len(failed) > 0 {
		t.Errorf("/livez under the header flood: %v", failed)
	}
	if st.OOMKilled || !st.Running || st.StartedAt != started || st.RestartCount != 0 {
		t.Errorf("the container was killed or restarted: %+v", st)
	}
}
