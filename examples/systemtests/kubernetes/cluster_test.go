//go:build kubernetes

package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// e2eConfig is what scripts/kubernetes load-images writes for the suite.
type e2eConfig struct {
	Kubectl    string            `json:"kubectl"`
	Kubeconfig string            `json:"kubeconfig"`
	Node       string            `json:"node"`
	NodeIP     string            `json:"nodeIP"`
	KubeletDir string            `json:"kubeletDir"`
	Tags       map[string]string `json:"tags"`
}

// cluster is the running cluster, driven through kubectl.
type cluster struct {
	e2eConfig
	examples string // the examples directory
}

func loadCluster(t *testing.T) *cluster {
	t.Helper()
	file := os.Getenv("K8S_E2E")
	if file == "" {
		t.Fatal("K8S_E2E is unset: run this suite with scripts/kubernetes test (it builds and starts the cluster)")
	}
	b, err := os.ReadFile(file) // #nosec G304 -- the file the script names
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{}
	if err := json.Unmarshal(b, &c.e2eConfig); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if c.examples, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs kubectl with stdin and returns its standard output and error.
func (c *cluster) run(ctx context.Context, stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...) // #nosec G204 -- the cluster's kubectl with the test's arguments
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), err
}

// kubectl runs kubectl and fails the test when it fails.
func (c *cluster) kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, _, err := c.run(context.Background(), "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// apply applies manifests given as YAML text.
func (c *cluster) apply(t testing.TB, manifests string, args ...string) {
	t.Helper()
	if _, _, err := c.run(context.Background(), manifests, append([]string{"apply", "-f", "-"}, args...)...); err != nil {
		t.Fatal(err)
	}
}

// get decodes `kubectl get ... -o json`.
func (c *cluster) get(t testing.TB, into any, args ...string) {
	t.Helper()
	out := c.kubectl(t, append([]string{"get", "-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), into); err != nil {
		t.Fatalf("kubectl get %v: %v", args, err)
	}
}

// pod is the part of a Pod the checks read.
type pod struct {
	Metadata struct {
		Name              string            `json:"name"`
		UID               string            `json:"uid"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp *time.Time        `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		Containers []struct {
			Name      string `json:"name"`
			Resources struct {
				Limits map[string]string `json:"limits"`
			} `json:"resources"`
			Ports []struct {
				Name          string `json:"name"`
				ContainerPort int    `json:"containerPort"`
			} `json:"ports"`
			ReadinessProbe map[string]json.RawMessage `json:"readinessProbe"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type               string    `json:"type"`
			Status             string    `json:"status"`
			LastTransitionTime time.Time `json:"lastTransitionTime"`
		} `json:"conditions"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			Ready        bool   `json:"ready"`
			Started      *bool  `json:"started"`
			RestartCount int    `json:"restartCount"`
			State        struct {
				Running *struct {
					StartedAt time.Time `json:"startedAt"`
				} `json:"running"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

func (p pod) ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func (p pod) restarts() int {
	n := 0
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

// pods lists the pods of a namespace matching a label selector.
func (c *cluster) pods(t testing.TB, ns, selector string) []pod {
	t.Helper()
	var list struct {
		Items []pod `json:"items"`
	}
	c.get(t, &list, "pods", "-n", ns, "-l", selector)
	return list.Items
}

// readyPods are the pods of a selector that are Ready and not being deleted.
func (c *cluster) readyPods(t testing.TB, ns, selector string) []pod {
	t.Helper()
	var ready []pod
	for _, p := range c.pods(t, ns, selector) {
		if p.ready() && p.Metadata.DeletionTimestamp == nil {
			ready = append(ready, p)
		}
	}
	return ready
}

// eventually polls cond until it holds, failing the test after within
// with the last reason it gave. It returns how long it took.
func eventually(t testing.TB, within, every time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("not so after %v: %s", within.Round(time.Second), why)
		}
		time.Sleep(every)
	}
}

// logLine is one line of a container's log: the kubelet's timestamp and
// the service's JSON fields.
type logLine struct {
	at     time.Time
	fields map[string]any
}

func (l logLine) msg() string {
	s, _ := l.fields["msg"].(string)
	return s
}

func (l logLine) str(key string) string {
	s, _ := l.fields[key].(string)
	return s
}

// parseLog reads `kubectl logs --timestamps` output; lines that are not
// JSON keep only their time.
func parseLog(text string) []logLine {
	var lines []logLine
	for l := range strings.Lines(text) {
		ts, rest, ok := strings.Cut(strings.TrimSpace(l), " ")
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		line := logLine{at: at}
		_ = json.Unmarshal([]byte(rest), &line.fields)
		lines = append(lines, line)
	}
	return lines
}

// follower keeps the log of a pod's container until the container ends:
// `kubectl logs -f` returns when it exits, even as the pod is deleted.
type follower struct {
	pod  string
	done chan struct{}
	mu   sync.Mutex
	text strings.Builder
}

func (c *cluster) follow(t testing.TB, ns, pod, container string) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{pod: pod, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, c.Kubectl, "--kubeconfig", c.Kubeconfig, "logs", "-f", "--timestamps", // #nosec G204 -- the cluster's kubectl
		"-n", ns, pod, "-c", container)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(f.done)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			f.mu.Lock()
			f.text.WriteString(line)
			f.mu.Unlock()
			if err != nil {
				if err != io.EOF {
					f.mu.Lock()
					fmt.Fprintf(&f.text, "# read: %v\n", err)
					f.mu.Unlock()
				}
				break
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-f.done
	})
	return f
}

// wait waits for the container's end, at most within.
func (f *follower) wait(within time.Duration) bool {
	select {
	case <-f.done:
		return true
	case <-time.After(within):
		return false
	}
}

func (f *follower) lines() []logLine {
	f.mu.Lock()
	defer f.mu.Unlock()
	return parseLog(f.text.String())
}

// shutdown is what a pod's log says of its shutdown.
type shutdown struct {
	pod      string
	began    time.Time
	finished time.Time     // the "shutdown done" line; zero when missing
	took     time.Duration // began to the last line
	done     []string      // hooks that ran to the end
	notDone  []string      // hooks skipped, abandoned or failed, with why
	log      []string      // the lines from "shutdown began" on, with their time since
}

func readShutdown(pod string, lines []logLine) shutdown {
	s := shutdown{pod: pod}
	var last time.Time
	for _, l := range lines {
		last = l.at
		if l.msg() == "shutdown began" {
			s.began = l.at
		}
		if !s.began.IsZero() && len(s.log) < 40 {
			b, _ := json.Marshal(l.fields)
			s.log = append(s.log, fmt.Sprintf("+%.1fs %s", l.at.Sub(s.began).Seconds(), b))
		}
		switch msg := l.msg(); {
		case msg == "shutdown done":
			s.finished = l.at
		case msg == "hook done":
			s.done = append(s.done, l.str("hook"))
		case strings.HasPrefix(msg, "hook "):
			s.notDone = append(s.notDone, l.str("hook")+" ("+msg+")")
		}
	}
	if !s.began.IsZero() {
		s.took = last.Sub(s.began)
	}
	return s
}

func (s shutdown) String() string {
	return fmt.Sprintf("%s: shutdown %.1fs, hooks done %v, not done %v, finished %v",
		s.pod, s.took.Seconds(), s.done, s.notDone, !s.finished.IsZero())
}
