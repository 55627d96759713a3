//go:build kubernetes

package kubernetes

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// grpcReadiness: the catalog pods the rollouts made were turned Ready by
// the kubelet's own gRPC probe. The readiness probe in their spec is
// grpc: on the container port named grpc and nothing else; the kubelet's
// prober metrics count successful readiness probes and no failed one; no
// Unhealthy event names the pod; and catalog counts
// grpc.health.v1.Health/Check answered OK (grpc_server_handled_total),
// which only the kubelet asks: the test's clients ask no health.
func (s *suite) grpcReadiness(t *testing.T) {
	counts := s.probeCounts(t)
	pods := s.readyPods(t, ns, "app.kubernetes.io/name=catalog")
	if len(pods) == 0 {
		t.Fatal("no ready catalog pod")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for _, p := range pods {
		name, c := p.Metadata.Name, p.Spec.Containers[0]
		port := func(name string) int {
			for _, cp := range c.Ports {
				if cp.Name == name {
					return cp.ContainerPort
				}
			}
			t.Fatalf("pod %s: no container port named %s", p.Metadata.Name, name)
			return 0
		}
		var probe struct {
			Port    int     `json:"port"`
			Service *string `json:"service"`
		}
		if err := json.Unmarshal(c.ReadinessProbe["grpc"], &probe); err != nil || probe.Port != port("grpc") {
			t.Errorf("pod %s: readiness probe %s, want grpc: on port %d (%v)", name, c.ReadinessProbe, port("grpc"), err)
		}
		for _, other := range []string{"httpGet", "tcpSocket", "exec"} {
			if c.ReadinessProbe[other] != nil {
				t.Errorf("pod %s: the readiness probe has %s too: %s", name, other, c.ReadinessProbe[other])
			}
		}

		var readyAfter time.Duration
		for _, cond := range p.Status.Conditions {
			if cond.Type == "Ready" && p.Status.ContainerStatuses[0].State.Running != nil {
				readyAfter = cond.LastTransitionTime.Sub(p.Status.ContainerStatuses[0].State.Running.StartedAt)
			}
		}
		ok, failed := counts[name]["Readiness"], counts[name]["Readiness failed"]
		if ok == 0 || failed > 0 {
			t.Errorf("pod %s: the kubelet counts %d successful readiness probes, %d failed; want some and none", name, ok, failed)
		}
		var events struct {
			Items []struct {
				Message string `json:"message"`
				Count   int    `json:"count"`
			} `json:"items"`
		}
		s.get(t, &events, "events", "-n", ns, "--field-selector", "involvedObject.name="+name+",reason=Unhealthy")
		for _, e := range events.Items {
			t.Errorf("pod %s: event Unhealthy (%d×): %s", name, e.Count, e.Message)
		}
		checks, err := healthChecks(client, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port("admin"))))
		if err != nil || checks == 0 {
			t.Errorf("pod %s: catalog answered grpc.health.v1.Health/Check OK %d times (%v), want some", name, checks, err)
		}
		s.figure(t, "pod %s Ready %.0fs after its container started, by its readiness probe grpc: port %d; the kubelet: %d successful readiness probes, %d failed, %d Unhealthy events; catalog answered grpc.health.v1.Health/Check OK %d times",
			name, readyAfter.Seconds(), probe.Port, ok, failed, len(events.Items), checks)
	}
}

// healthChecks reads from a catalog pod's /metrics how many
// grpc.health.v1.Health/Check RPCs it answered with OK.
func healthChecks(client *http.Client, admin string) (int, error) {
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	want := []string{`grpc_code="OK"`, `grpc_method="Check"`, `grpc_service="grpc.health.v1.Health"`}
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "grpc_server_handled_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		have := label.FindAllString(labels, -1)
		if !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(have, w) }) {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return 0, fmt.Errorf("grpc_server_handled_total{%s} %q: %w", labels, value, err)
			}
			n += int(v)
		}
	}
	return n, sc.Err()
}
