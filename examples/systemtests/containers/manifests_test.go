package containers_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/internal/testenv"
)

// The Kubernetes objects the manifests hold, as far as the checks read them.
type object struct {
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   metadata  `yaml:"metadata"`
	Spec       yaml.Node `yaml:"spec"`
	file       string
}

type metadata struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type selector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deploymentSpec struct {
	Replicas *int     `yaml:"replicas"`
	Selector selector `yaml:"selector"`
	Strategy struct {
		Type          string `yaml:"type"`
		RollingUpdate *struct {
			MaxUnavailable any `yaml:"maxUnavailable"`
		} `yaml:"rollingUpdate"`
	} `yaml:"strategy"`
	Template podTemplate `yaml:"template"`
}

type jobSpec struct {
	Template podTemplate `yaml:"template"`
}

type podTemplate struct {
	Metadata metadata `yaml:"metadata"`
	Spec     podSpec  `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
	AutomountServiceAccountToken  *bool `yaml:"automountServiceAccountToken"`
	SecurityContext               struct {
		RunAsNonRoot   *bool   `yaml:"runAsNonRoot"`
		RunAsUser      *int    `yaml:"runAsUser"`
		SeccompProfile seccomp `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Volumes []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
	Containers []container `yaml:"containers"`
}

type seccomp struct {
	Type string `yaml:"type"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string         `yaml:"name"`
		Value     string         `yaml:"value"`
		ValueFrom map[string]any `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom      []any `yaml:"envFrom"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool   `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool   `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool   `yaml:"runAsNonRoot"`
		SeccompProfile           seccomp `yaml:"seccompProfile"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	GRPC *struct {
		Port    any     `yaml:"port"` // Kubernetes takes only a number here
		Service *string `yaml:"service"`
	} `yaml:"grpc"`
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort any    `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MinAvailable   any      `yaml:"minAvailable"`
	MaxUnavailable any      `yaml:"maxUnavailable"`
	Selector       selector `yaml:"selector"`
}

// workload is a Deployment or a Job: a pod template running one of the
// example services.
type workload struct {
	obj     object
	service string // catalog or orders, from the image name
	pod     podSpec
	labels  map[string]string
	deploy  *deploymentSpec // nil for a Job
	c       container
}

func readManifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in examples/manifests: %v", err)
	}
	var objs []object
	for _, file := range files {
		dec := yaml.NewDecoder(bytes.NewReader(readFile(t, file)))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			o.file = filepath.Base(file)
			objs = append(objs, o)
		}
	}
	return objs
}

func decodeSpec(t *testing.T, o object, into any) {
	t.Helper()
	if err := o.Spec.Decode(into); err != nil {
		t.Fatalf("%s %s/%s: spec: %v", o.file, o.Kind, o.Metadata.Name, err)
	}
}

func workloads(t *testing.T, objs []object) []workload {
	t.Helper()
	var ws []workload
	for _, o := range objs {
		w := workload{obj: o}
		switch o.Kind {
		case "Deployment":
			var d deploymentSpec
			decodeSpec(t, o, &d)
			w.deploy, w.pod, w.labels = &d, d.Template.Spec, d.Template.Metadata.Labels
		case "Job":
			var j jobSpec
			decodeSpec(t, o, &j)
			w.pod, w.labels = j.Template.Spec, j.Template.Metadata.Labels
		default:
			continue
		}
		if len(w.pod.Containers) != 1 {
			t.Fatalf("%s %s: want one container, have %d", o.Kind, o.Metadata.Name, len(w.pod.Containers))
		}
		w.c = w.pod.Containers[0]
		repo, _, _ := strings.Cut(path.Base(w.c.Image), ":")
		w.service = repo
		ws = append(ws, w)
	}
	return ws
}

func (w workload) String() string { return w.obj.Kind + "/" + w.obj.Metadata.Name }

func (w workload) env(name string) (string, bool) {
	for _, e := range w.c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// envOr returns the manifest's value of a variable, or the code's default.
func (w workload) duration(t *testing.T, code serviceCode, name string) time.Duration {
	t.Helper()
	v, ok := w.env(name)
	if !ok {
		return code.duration(t, name)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%v: %s=%q: %v", w, name, v, err)
	}
	return d
}

func (w workload) addrPort(t *testing.T, code serviceCode, name string) int {
	t.Helper()
	port := code.port(t, name)
	if v, ok := w.env(name); ok {
		_, p, err := net.SplitHostPort(v)
		if err != nil {
			t.Fatalf("%v: %s=%q: %v", w, name, v, err)
		}
		port = p
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("%v: port of %s %q: %v", w, name, port, err)
	}
	return n
}

// containerPort resolves a probe's or Service's port (a number or a
// container port's name).
func (w workload) containerPort(port any) (int, bool) {
	switch p := port.(type) {
	case int:
		return p, true
	case string:
		for _, cp := range w.c.Ports {
			if cp.Name == p {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// healthPaths serves the health package's own handlers, so that a probe
// path is checked against what the code mounts, not against a list copied
// into this test.
func healthPaths(t *testing.T) map[string]int {
	t.Helper()
	mux := http.NewServeMux()
	health.New().Mount(mux)
	status := map[string]int{}
	for _, p := range []string{"/livez", "/readyz", "/startupz"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		status[p] = rec.Code
	}
	return status
}

var imageTag = regexp.MustCompile(`^[^:@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?(@sha256:[0-9a-f]{64})?$`)

// TestManifestsMatchCode holds every Deployment and Job in examples/manifests to
// the services' code and to the hardening the README promises.
func TestManifestsMatchCode(t *testing.T) {
	objs := readManifests(t)
	ws := workloads(t, objs)
	if len(ws) == 0 {
		t.Fatal("no Deployments or Jobs in examples/manifests")
	}
	codes := map[string]serviceCode{}
	served := healthPaths(t)
	checks := []struct {
		name  string
		onlyD bool // Deployments only: probes, rollout, ports
		check func(t *testing.T, w workload, code serviceCode)
	}{
		{"image has an immutable version tag, not latest", false, func(t *testing.T, w workload, _ serviceCode) {
			m := imageTag.FindStringSubmatch(w.c.Image)
			if m == nil || (m[1] == "" && m[2] == "") || m[1] == ":latest" {
				t.Errorf("image %q: want a version tag or digest, not latest or none", w.c.Image)
			}
		}},
		{"every environment variable is one the code reads", false, func(t *testing.T, w workload, code serviceCode) {
			refs := map[string]bool{}
			for _, e := range w.c.Env {
				for _, m := range regexp.MustCompile(`\$\(([A-Z0-9_]+)\)`).FindAllStringSubmatch(e.Value, -1) {
					refs[m[1]] = true
				}
			}
			for _, e := range w.c.Env {
				if !code.reads(e.Name) && !refs[e.Name] {
					t.Errorf("env %s: %s does not read it (it reads %v)", e.Name, code.name, keys(code.env))
				}
				if _, ok := e.ValueFrom["secretKeyRef"]; ok {
					t.Errorf("env %s comes from a Secret: secrets are files from a volume, which rotate", e.Name)
				}
			}
			if len(w.c.EnvFrom) > 0 {
				t.Error("envFrom hides which variables are set; name each")
			}
		}},
		{"duration and address values parse as the code parses them", false, func(t *testing.T, w workload, code serviceCode) {
			for _, e := range w.c.Env {
				def := code.env[e.Name]
				switch {
				case strings.Contains(def, "time."):
					if _, err := time.ParseDuration(e.Value); err != nil {
						t.Errorf("%s=%q: %v", e.Name, e.Value, err)
					}
				case strings.HasSuffix(e.Name, "_ADDR"):
					if _, _, err := net.SplitHostPort(e.Value); err != nil {
						t.Errorf("%s=%q: %v", e.Name, e.Value, err)
					}
				}
			}
		}},
		{"the subcommand is one main accepts", false, func(t *testing.T, w workload, code serviceCode) {
			for _, a := range w.c.Args {
				if !code.commands[a] {
					t.Errorf("args %q: %s accepts %v", w.c.Args, code.name, keys(code.commands))
				}
			}
		}},
		{"pod security context: non-root, seccomp RuntimeDefault, no token", false, func(t *testing.T, w workload, _ serviceCode) {
			sc := w.pod.SecurityContext
			if !isTrue(sc.RunAsNonRoot) || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
				t.Errorf("pod securityContext: want runAsNonRoot true and runAsUser 65532 (the image's user), have %+v", sc)
			}
			if sc.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("pod seccompProfile %q, want RuntimeDefault", sc.SeccompProfile.Type)
			}
			if !isFalse(w.pod.AutomountServiceAccountToken) {
				t.Error("automountServiceAccountToken should be false: the services never call the API server")
			}
		}},
		{"container security context: read-only root, no escalation, drop ALL", false, func(t *testing.T, w workload, _ serviceCode) {
			sc := w.c.SecurityContext
			if !isFalse(sc.AllowPrivilegeEscalation) {
				t.Error("allowPrivilegeEscalation must be false")
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				t.Error("readOnlyRootFilesystem must be true")
			}
			if !isTrue(sc.RunAsNonRoot) {
				t.Error("runAsNonRoot must be true")
			}
			if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
				t.Errorf("capabilities.drop %v, want [ALL]", sc.Capabilities.Drop)
			}
			if sc.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("seccompProfile %q, want RuntimeDefault", sc.SeccompProfile.Type)
			}
		}},
		{"requests and limits for CPU and memory", false, func(t *testing.T, w workload, _ serviceCode) {
			for _, r := range []string{"cpu", "memory"} {
				if w.c.Resources.Requests[r] == "" || w.c.Resources.Limits[r] == "" {
					t.Errorf("%s: want both a request and a limit, have %q and %q", r, w.c.Resources.Requests[r], w.c.Resources.Limits[r])
				}
			}
		}},
		{"secrets come from a volume, without subPath, where the code reads them", false, func(t *testing.T, w workload, _ serviceCode) {
			secretVolumes := map[string]bool{}
			for _, v := range w.pod.Volumes {
				if v.Secret != nil {
					secretVolumes[v.Name] = true
				}
			}
			for _, m := range w.c.VolumeMounts {
				if secretVolumes[m.Name] && (m.SubPath != "" || !m.ReadOnly) {
					t.Errorf("secret volume %s: want readOnly and no subPath (a subPath mount never sees an update)", m.Name)
				}
			}
			for _, e := range w.c.Env {
				if !strings.HasSuffix(e.Name, "_FILE") {
					continue
				}
				found := false
				for _, m := range w.c.VolumeMounts {
					if secretVolumes[m.Name] && path.Dir(e.Value) == path.Clean(m.MountPath) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s=%s is not a file directly in a mounted Secret volume", e.Name, e.Value)
				}
			}
		}},
		{"grace period above SHUTDOWN_TIMEOUT, the drain inside it", true, func(t *testing.T, w workload, code serviceCode) {
			// The drain delay counts inside SHUTDOWN_TIMEOUT (the shutdown
			// package's contract): the timeout is the whole budget.
			budget := w.duration(t, code, "SHUTDOWN_TIMEOUT")
			if drain := w.duration(t, code, "SHUTDOWN_DRAIN_DELAY"); drain >= budget {
				t.Errorf("SHUTDOWN_DRAIN_DELAY %v leaves nothing of SHUTDOWN_TIMEOUT %v to stop the servers in", drain, budget)
			}
			grace := 30 * time.Second // Kubernetes' default
			if g := w.pod.TerminationGracePeriodSeconds; g != nil {
				grace = time.Duration(*g) * time.Second
			}
			if grace <= budget {
				t.Errorf("terminationGracePeriodSeconds %v, not above the shutdown budget %v: SIGKILL would cut the shutdown short", grace, budget)
			}
		}},
		{"rolling update with maxUnavailable 0", true, func(t *testing.T, w workload, _ serviceCode) {
			ru := w.deploy.Strategy.RollingUpdate
			if w.deploy.Strategy.Type != "RollingUpdate" || ru == nil || fmt.Sprint(ru.MaxUnavailable) != "0" {
				t.Errorf("strategy %+v: want RollingUpdate with maxUnavailable 0", w.deploy.Strategy)
			}
			if w.deploy.Replicas == nil || *w.deploy.Replicas < 2 {
				t.Error("want at least 2 replicas: one pod is an outage at every node drain")
			}
		}},
		{"ports: http, admin and grpc as the code listens", true, func(t *testing.T, w workload, code serviceCode) {
			ports := []struct{ name, env string }{{"http", "HTTP_ADDR"}, {"admin", "ADMIN_ADDR"}}
			if code.reads("GRPC_ADDR") {
				ports = append(ports, struct{ name, env string }{"grpc", "GRPC_ADDR"})
			}
			for _, p := range ports {
				got, ok := w.containerPort(p.name)
				if want := w.addrPort(t, code, p.env); !ok || got != want {
					t.Errorf("container port %q = %d, but %s listens on %d", p.name, got, p.env, want)
				}
			}
		}},
		{"probes: startup, liveness, readiness on the admin port's health paths, or readiness on grpc.health.v1", true, func(t *testing.T, w workload, code serviceCode) {
			admin := w.addrPort(t, code, "ADMIN_ADDR")
			if code.reads("GRPC_ADDR") {
				// A gRPC service is probed natively for readiness, on the
				// port it serves gRPC on, for the whole server ("").
				g := w.c.ReadinessProbe
				if g == nil || g.GRPC == nil {
					t.Errorf("readinessProbe: want a grpc: probe on the gRPC port, have %+v", g)
				} else {
					port, ok := g.GRPC.Port.(int)
					if want := w.addrPort(t, code, "GRPC_ADDR"); !ok || port != want {
						t.Errorf("readinessProbe grpc port %v, want the number %d that GRPC_ADDR listens on", g.GRPC.Port, want)
					}
					if g.GRPC.Service != nil && *g.GRPC.Service != "" {
						t.Errorf("readinessProbe grpc service %q: the server's status is \"\"", *g.GRPC.Service)
					}
				}
			}
			for _, p := range []struct {
				kind  string
				probe *probe
				path  string
			}{
				{"startupProbe", w.c.StartupProbe, "/startupz"},
				{"livenessProbe", w.c.LivenessProbe, "/livez"},
				{"readinessProbe", w.c.ReadinessProbe, "/readyz"},
			} {
				if p.kind == "readinessProbe" && code.reads("GRPC_ADDR") {
					continue // checked above
				}
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("%s: missing (want httpGet %s)", p.kind, p.path)
					continue
				}
				g := p.probe.HTTPGet
				if g.Path != p.path {
					t.Errorf("%s path %q, want %q", p.kind, g.Path, p.path)
				}
				if code := served[g.Path]; code != http.StatusOK && code != http.StatusServiceUnavailable {
					t.Errorf("%s path %q: the health package's Mount answers %d", p.kind, g.Path, code)
				}
				if port, ok := w.containerPort(g.Port); !ok || port != admin {
					t.Errorf("%s port %v = %d, want the admin port %d", p.kind, g.Port, port, admin)
				}
			}
		}},
	}
	for _, w := range ws {
		code, ok := codes[w.service]
		if !ok {
			code = readServiceCode(t, w.service)
			codes[w.service] = code
		}
		t.Run(w.String(), func(t *testing.T) {
			for _, c := range checks {
				if c.onlyD && w.deploy == nil {
					continue
				}
				t.Run(c.name, func(t *testing.T) { c.check(t, w, code) })
			}
		})
	}
}

// TestManifestsServicesAndBudgets: every Deployment has a Service whose
// target ports exist and a PodDisruptionBudget whose selector matches it.
func TestManifestsServicesAndBudgets(t *testing.T) {
	objs := readManifests(t)
	ws := workloads(t, objs)
	for _, w := range ws {
		if w.deploy == nil {
			continue
		}
		t.Run(w.String(), func(t *testing.T) {
			if !matches(w.deploy.Selector.MatchLabels, w.labels) {
				t.Fatalf("selector %v does not match the pod labels %v", w.deploy.Selector.MatchLabels, w.labels)
			}
			var haveService, haveBudget, exposesGRPC bool
			grpcPort, servesGRPC := w.containerPort("grpc")
			for _, o := range objs {
				switch o.Kind {
				case "Service":
					var s serviceSpec
					decodeSpec(t, o, &s)
					if !matches(s.Selector, w.labels) {
						continue
					}
					haveService = true
					for _, p := range s.Ports {
						port, ok := w.containerPort(p.TargetPort)
						if !ok {
							t.Errorf("Service %s port %s: targetPort %v is no container port", o.Metadata.Name, p.Name, p.TargetPort)
						}
						exposesGRPC = exposesGRPC || (servesGRPC && port == grpcPort)
					}
				case "PodDisruptionBudget":
					var p pdbSpec
					decodeSpec(t, o, &p)
					if !matches(p.Selector.MatchLabels, w.labels) {
						continue
					}
					haveBudget = true
					if p.MinAvailable == nil && p.MaxUnavailable == nil {
						t.Errorf("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", o.Metadata.Name)
					}
				}
			}
			if !haveService {
				t.Error("no Service selects its pods")
			}
			if servesGRPC && !exposesGRPC {
				t.Errorf("no Service exposes the gRPC port %d", grpcPort)
			}
			if !haveBudget {
				t.Error("no PodDisruptionBudget selects its pods")
			}
		})
	}
}

func matches(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// composeFile is the part of examples/compose.yaml the checks read; yaml.v3
// resolves the file's merge keys (<<: *hardening).
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image           string            `yaml:"image"`
	Command         []string          `yaml:"command"`
	User            string            `yaml:"user"`
	ReadOnly        bool              `yaml:"read_only"`
	CapDrop         []string          `yaml:"cap_drop"`
	SecurityOpt     []string          `yaml:"security_opt"`
	MemLimit        string            `yaml:"mem_limit"`
	CPUs            float64           `yaml:"cpus"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	StopSignal      string            `yaml:"stop_signal"`
	Environment     map[string]string `yaml:"environment"`
	Secrets         []string          `yaml:"secrets"`
	Ports           []string          `yaml:"ports"`
	Healthcheck     struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// TestComposeMatchesCode holds the compose file's services to the code and
// to the same hardening as the manifests.
func TestComposeMatchesCode(t *testing.T) {
	var cf composeFile
	if err := yaml.Unmarshal(readFile(t, filepath.Join(examplesDir, "compose.yaml")), &cf); err != nil {
		t.Fatal(err)
	}
	var ours []string
	for name, s := range cf.Services {
		if strings.HasPrefix(s.Image, "prodready/") {
			ours = append(ours, name)
		}
	}
	slices.Sort(ours)
	if len(ours) < 3 {
		t.Fatalf("want catalog, orders and the migration among the services, have %v", ours)
	}
	for _, name := range ours {
		s := cf.Services[name]
		repo, tag, _ := strings.Cut(strings.TrimPrefix(s.Image, "prodready/"), ":")
		code := readServiceCode(t, repo)
		oneShot := len(s.Command) > 0
		t.Run(name, func(t *testing.T) {
			if tag == "" || tag == "latest" {
				t.Errorf("image %q: want a version tag", s.Image)
			}
			if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("want read_only, cap_drop [ALL] and no-new-privileges:true; have %v %v %v", s.ReadOnly, s.CapDrop, s.SecurityOpt)
			}
			if s.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532", s.User)
			}
			if s.MemLimit == "" || s.CPUs <= 0 {
				t.Errorf("want mem_limit and cpus, have %q and %v", s.MemLimit, s.CPUs)
			}
			for k, v := range s.Environment {
				if !code.reads(k) {
					t.Errorf("environment %s: %s does not read it", k, code.name)
				}
				if strings.Contains(k, "PASSWORD") && !strings.HasSuffix(k, "_FILE") {
					t.Errorf("environment %s: a password in an environment variable", k)
				}
				if strings.HasSuffix(k, "_FILE") && !slices.ContainsFunc(s.Secrets, func(sec string) bool { return v == "/run/secrets/"+sec }) {
					t.Errorf("%s=%s is not one of the service's secrets %v", k, v, s.Secrets)
				}
			}
			for _, a := range s.Command {
				if !code.commands[a] {
					t.Errorf("command %q: %s accepts %v", s.Command, code.name, keys(code.commands))
				}
			}
			if oneShot {
				return
			}
			// The whole budget: the drain delay counts inside it.
			budget := code.duration(t, "SHUTDOWN_TIMEOUT")
			if d, ok := s.Environment["SHUTDOWN_TIMEOUT"]; ok {
				budget, _ = time.ParseDuration(d)
			}
			grace, err := time.ParseDuration(s.StopGracePeriod)
			if err != nil || grace <= budget {
				t.Errorf("stop_grace_period %q, want above the shutdown budget %v (Docker's default is 10s)", s.StopGracePeriod, budget)
			}
			if !slices.Equal(s.Healthcheck.Test, []string{"CMD", "/app", "healthcheck"}) || !code.commands["healthcheck"] {
				t.Errorf("healthcheck %v: want the binary's own healthcheck subcommand", s.Healthcheck.Test)
			}
			// Published: the traffic ports, HTTP and (for a service that
			// serves it) gRPC; never the admin port.
			published := map[string]string{}
			for _, env := range []string{"HTTP_ADDR", "GRPC_ADDR"} {
				if !code.reads(env) {
					continue
				}
				port := code.port(t, env)
				if v, ok := s.Environment[env]; ok {
					_, port, _ = net.SplitHostPort(v)
				}
				published[port] = env
			}
			for _, p := range s.Ports {
				if _, ok := published[p[strings.LastIndex(p, ":")+1:]]; !ok {
					t.Errorf("port mapping %q reaches none of the traffic ports %v", p, published)
				}
			}
			for dep, d := range s.DependsOn {
				if d.Condition != "service_healthy" && d.Condition != "service_completed_successfully" {
					t.Errorf("depends_on %s: condition %q starts before it is ready", dep, d.Condition)
				}
			}
		})
	}
}

// TestComposeConfig: the Compose tool installed here must accept the file.
// Both the v1 tool (docker-compose) and the v2 plugin (docker compose) are
// tried; each present one must accept it.
func TestComposeConfig(t *testing.T) {
	tools := [][]string{}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		tools = append(tools, []string{p})
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if exec.Command(p, "compose", "version").Run() == nil { // #nosec G204 -- the docker CLI found on PATH
			tools = append(tools, []string{p, "compose"})
		}
	}
	if len(tools) == 0 {
		testenv.Missing(t, "docker-compose or the docker compose plugin", "apt-get install docker-compose (./scripts/setup does)")
	}
	for _, tool := range tools {
		t.Run(strings.Join(tool, " "), func(t *testing.T) {
			args := append(tool[1:], "-f", filepath.Join(examplesDir, "compose.yaml"), "config", "-q")
			out, err := exec.Command(tool[0], args...).CombinedOutput() // #nosec G204 -- a compose tool found on PATH, fixed arguments
			if err != nil {
				t.Fatalf("%s config rejects compose.yaml: %v\n%s", strings.Join(tool, " "), err, out)
			}
			if len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("%s config warns:\n%s", strings.Join(tool, " "), out)
			}
		})
	}
}

// TestDockerfileMatchesCode: the Dockerfile's runtime stage runs the
// services the way the code and the manifests expect.
func TestDockerfileMatchesCode(t *testing.T) {
	df := string(readFile(t, filepath.Join(examplesDir, "Dockerfile")))
	// The final stage: everything after the last FROM.
	final := df[strings.LastIndex(df, "\nFROM "):]
	catalog := readServiceCode(t, "catalog")
	tests := []struct {
		name string
		want *regexp.Regexp
	}{
		{"runs as 65532, numerically", regexp.MustCompile(`(?m)^USER 65532:65532$`)},
		{"exposes the admin port", regexp.MustCompile(`(?m)^EXPOSE .*\b` + catalog.port(t, "ADMIN_ADDR") + `\b`)},
		{"stops with SIGTERM", regexp.MustCompile(`(?m)^STOPSIGNAL SIGTERM$`)},
		{"health-checks with the binary itself", regexp.MustCompile(`(?m)CMD \["/app", "healthcheck"\]$`)},
		{"the binary is the entrypoint, no shell", regexp.MustCompile(`(?m)^ENTRYPOINT \["/app"\]$`)},
		{"default HTTP port is catalog's", regexp.MustCompile(`(?m)^ARG HTTP_PORT=` + catalog.port(t, "HTTP_ADDR") + `$`)},
		{"default gRPC port is catalog's", regexp.MustCompile(`(?m)^ARG GRPC_PORT=` + catalog.port(t, "GRPC_ADDR") + `$`)},
		{"exposes the gRPC port", regexp.MustCompile(`(?m)^EXPOSE .*\$\{GRPC_PORT\}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.want.MatchString(final) {
				t.Errorf("the runtime stage has no line matching %s", tt.want)
			}
		})
	}
	t.Run("healthcheck is a subcommand of both services", func(t *testing.T) {
		for _, s := range []string{"catalog", "orders"} {
			if !readServiceCode(t, s).commands["healthcheck"] {
				t.Errorf("%s does not accept the healthcheck argument", s)
			}
		}
	})
	t.Run("module download before the source copy", func(t *testing.T) {
		download, source := strings.Index(df, "RUN go mod download"), strings.Index(df, "COPY . ")
		if download < 0 || source < 0 || download > source {
			t.Error("go mod download must come before the source COPY, so code edits do not re-download modules")
		}
	})
}
