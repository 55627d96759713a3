//go:build kubernetes

package kubernetes

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// inPlaceResize: the catalog pod's memory limit is raised in place
// (`kubectl patch --subresource resize`, Kubernetes' in-place pod resize,
// on by default since 1.33): the container is not restarted, and
// memlimit.Follow applies 90% of the new limit within 30 s of the kubelet
// writing the cgroup, as the "memory limit changed" log line says. Before
// memlimit.Follow, GOMEMLIMIT stayed at the share of the old limit.
//
// Written with the [bounds] issue and not run there: the suite builds a
// cluster, which the machine could not afford. A kubelet on cgroup
// v1 may refuse the resize (the PodResizePending condition says
// Infeasible); the step then fails naming that reason.
func (s *suite) inPlaceResize(t *testing.T) {
	pods := s.readyPods(t, ns, "app.kubernetes.io/name=catalog")
	if len(pods) == 0 {
		t.Fatal("no ready catalog pod")
	}
	p := pods[0]
	c := p.Spec.Containers[0]
	old, err := quantity(c.Resources.Limits["memory"])
	if err != nil {
		t.Fatalf("pod %s: memory limit %q: %v", p.Metadata.Name, c.Resources.Limits["memory"], err)
	}
	restarts := p.Status.ContainerStatuses[0].RestartCount
	raised := old + old/2
	patch := fmt.Sprintf(`{"spec":{"containers":[{"name":%q,"resources":{"limits":{"memory":"%d"}}}]}}`, c.Name, raised)
	s.kubectl(t, "patch", "pod", p.Metadata.Name, "-n", ns, "--subresource", "resize", "--patch", patch)

	want := raised / 10 * 9
	took := eventually(t, 90*time.Second, time.Second, func() (bool, string) {
		pending := s.kubectl(t, "get", "pod", p.Metadata.Name, "-n", ns, "-o",
			`jsonpath={range .status.conditions[?(@.type=="PodResizePending")]}{.reason}: {.message}{end}`)
		if pending != "" {
			return false, "the resize is pending: " + pending
		}
		for _, l := range parseLog(s.kubectl(t, "logs", "--timestamps", "-n", ns, p.Metadata.Name, "-c", c.Name)) {
			if l.str("msg") == "memory limit changed" {
				if got, _ := l.fields["limit_new"].(float64); int64(got) == want {
					return true, ""
				}
				got, _ := l.fields["limit_new"].(float64)
				return false, "logged limit_new " + strconv.FormatFloat(got, 'f', 0, 64) + ", want " + strconv.FormatInt(want, 10)
			}
		}
		return false, "no \"memory limit changed\" line yet"
	})
	s.figure(t, "pod %s resized in place %d -> %d bytes: GOMEMLIMIT %d applied %.0fs after the patch",
		p.Metadata.Name, old, raised, want, took.Seconds())
	for _, now := range s.pods(t, ns, "app.kubernetes.io/name=catalog") {
		if now.Metadata.UID == p.Metadata.UID && now.Status.ContainerStatuses[0].RestartCount != restarts {
			t.Errorf("pod %s: the container restarted (%d -> %d restarts)", p.Metadata.Name, restarts, now.Status.ContainerStatuses[0].RestartCount)
		}
	}
}
