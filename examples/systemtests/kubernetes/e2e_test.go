//go:build kubernetes

package kubernetes

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	ns       = "prodready"
	examples = "app.kubernetes.io/part-of=prodready-examples"
)

// suite is the state the steps share: the cluster, the collector, the
// services' addresses, the current secrets, and the figures for the note.
type suite struct {
	*cluster
	t         *testing.T // the whole run's: what must outlive one step
	overlay   string
	collector *collector
	addr      map[string]string // catalog, orders: the Service's ClusterIP:port
	tokens    map[string]string // catalog, orders: the admin token in the Secret
	password  string            // the database password in the Secret
	hooks     map[string][]string

	mu      sync.Mutex
	figures []string
}

func (s *suite) figure(t testing.TB, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	s.mu.Lock()
	s.figures = append(s.figures, line)
	s.mu.Unlock()
}

// TestKubernetes deploys examples/manifests, unchanged but for image tags, into
// a namespace that enforces Pod Security "restricted", and checks it the
// way a cluster treats it: probes, rollouts under load, a collector gone,
// Secret rotation by the kubelet, a node drain against the budgets, the
// memory limit. The steps run in order, on the same deployment.
func TestKubernetes(t *testing.T) {
	s := &suite{
		cluster: loadCluster(t),
		t:       t,
		overlay: filepath.Join(t.TempDir(), "overlay"),
		addr:    map[string]string{},
		hooks:   map[string][]string{},
	}
	t.Cleanup(func() {
		t.Log("figures:\n    " + strings.Join(s.figures, "\n    "))
	})
	steps := []struct {
		name   string
		fn     func(*testing.T)
		needed bool // the later steps cannot run without it
	}{
		{"dry run", s.dryRun, true},
		{"deploy", s.deploy, true},
		{"memory limit", s.memoryLimit, false},
		{"in-place resize", s.inPlaceResize, false},
		{"rollout", s.rollouts, false},
		{"rollout without a collector", s.rolloutWithoutCollector, false},
		{"secret rotation", s.rotation, false},
		{"drain", s.drain, false},
	}
	for _, st := range steps {
		start := time.Now()
		ok := t.Run(st.name, st.fn)
		result := "passed"
		if !ok {
			result = "FAILED"
		}
		s.figure(t, "step %q %s in %.0fs", st.name, result, time.Since(start).Seconds())
		if !ok {
			s.dump(t)
		}
		if !ok && st.needed {
			t.Fatalf("step %q failed: the later steps need it", st.name)
		}
	}
}

// dump logs what the cluster looks like, for a step that failed.
func (s *suite) dump(t *testing.T) {
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "jobs,deployments,poddisruptionbudgets", "-n", ns},
		{"get", "events", "-n", ns, "--sort-by=.lastTimestamp"},
	} {
		out, _, err := s.run(context.Background(), "", args...)
		t.Logf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

const namespaces = `apiVersion: v1
kind: Namespace
metadata:
  name: prodready
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
---
apiVersion: v1
kind: Namespace
metadata: {name: observability}
`

// bare is a pod with no security context, which restricted refuses (root
// allowed, privilege escalation allowed, capabilities kept, no seccomp).
const bare = `apiVersion: v1
kind: Pod
metadata: {name: bare}
spec:
  containers:
    - name: c
      image: registry.example.com/prodready/catalog:1.0.0
`

// dryRun: the overlay changes nothing but image tags, every object passes
// a server-side dry run without a warning, and the namespace enforces
// restricted.
func (s *suite) dryRun(t *testing.T) {
	_, _, _ = s.run(context.Background(), "", "delete", "namespace", ns, "observability", "--ignore-not-found", "--wait", "--timeout", "180s")
	s.apply(t, namespaces)
	base := filepath.Join(s.examples, "manifests")
	if err := WriteOverlay(s.overlay, base, s.Tags); err != nil {
		t.Fatal(err)
	}
	rendered := map[string][]string{}
	for name, dir := range map[string]string{"base": base, "overlay": s.overlay} {
		rendered[name] = strings.Split(s.kubectl(t, "kustomize", dir), "\n")
	}
	if len(rendered["base"]) != len(rendered["overlay"]) {
		t.Fatalf("the overlay renders %d lines, examples/manifests %d", len(rendered["overlay"]), len(rendered["base"]))
	}
	images := 0
	for i, b := range rendered["base"] {
		o := rendered["overlay"][i]
		if b == o {
			continue
		}
		bi, bok := strings.CutPrefix(strings.TrimSpace(b), "image: ")
		oi, ook := strings.CutPrefix(strings.TrimSpace(o), "image: ")
		bname, _, _ := strings.Cut(bi, ":")
		oname, _, _ := strings.Cut(oi, ":")
		if !bok || !ook || bname != oname {
			t.Errorf("the overlay changes more than a tag: %q became %q", b, o)
		}
		images++
	}

	out, stderr, err := s.run(context.Background(), "", "apply", "-k", s.overlay, "-n", ns, "--dry-run=server")
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	for l := range strings.Lines(stderr) {
		if l = strings.TrimSpace(l); l != "" {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) > 0 {
		t.Errorf("the server-side dry run warns:\n%s", strings.Join(warnings, "\n"))
	}
	objects := strings.Count(out, "(server dry run)")
	s.figure(t, "dry run: %d objects of examples/manifests accepted by the server, %d warnings; the overlay changes %d image lines, nothing else",
		objects, len(warnings), images)

	_, _, err = s.run(context.Background(), bare, "apply", "-f", "-", "-n", ns, "--dry-run=server")
	if err == nil || !strings.Contains(err.Error(), `violates PodSecurity "restricted`) {
		t.Errorf("a pod with no security context in %s: %v, want refused by Pod Security restricted", ns, err)
	}
}

// randomHex is n random bytes as hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// secrets are the three Secrets the manifests name, as the operator
// creates them.
func (s *suite) secrets(t testing.TB) string {
	t.Helper()
	var docs []string
	for name, data := range map[string]map[string]string{
		"catalog-admin": {"token": s.tokens["catalog"]},
		"orders-admin":  {"token": s.tokens["orders"]},
		"orders-db":     {"password": s.password},
	} {
		b, err := json.Marshal(map[string]any{
			"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
			"metadata": map[string]any{"name": name, "namespace": ns}, "stringData": data,
		})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "\n---\n")
}

// postgresTLS is a self-signed certificate for the database: the
// manifests connect with sslmode=require.
func postgresTLS(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "postgres"},
		DNSNames:     []string{"postgres", "postgres." + ns, "postgres." + ns + ".svc.cluster.local"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
		"metadata": map[string]any{"name": "postgres-tls", "namespace": ns},
		"stringData": map[string]string{
			"tls.crt": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			"tls.key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// postgres is the database the manifests expect at postgres:5432, with
// TLS, run as restricted allows. It is the test's, not the examples'.
func (s *suite) postgres() string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: postgres, namespace: %[1]s, labels: {app.kubernetes.io/name: postgres}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app.kubernetes.io/name: postgres}}
  template:
    metadata: {labels: {app.kubernetes.io/name: postgres}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: {type: RuntimeDefault}}
      volumes:
        - {name: data, emptyDir: {}}
        - {name: run, emptyDir: {}}
        - {name: password, secret: {secretName: orders-db, defaultMode: 0440}}
        - {name: tls, secret: {secretName: postgres-tls, defaultMode: 0440}}
      containers:
        - name: postgres
          image: docker.io/library/postgres:%[2]s
          imagePullPolicy: Never
          args: ["-c", "ssl=on", "-c", "ssl_cert_file=/tls/tls.crt", "-c", "ssl_key_file=/tls/tls.key"]
          env:
            - {name: POSTGRES_USER, value: orders}
            - {name: POSTGRES_DB, value: orders}
            - {name: POSTGRES_PASSWORD_FILE, value: /secrets/password}
            - {name: PGDATA, value: /var/lib/postgresql/data/pgdata}
          ports: [{name: postgres, containerPort: 5432}]
          volumeMounts:
            - {name: data, mountPath: /var/lib/postgresql/data}
            - {name: run, mountPath: /var/run/postgresql}
            - {name: password, mountPath: /secrets, readOnly: true}
            - {name: tls, mountPath: /tls, readOnly: true}
          readinessProbe:
            exec: {command: [pg_isready, --quiet, --username=orders, --host=127.0.0.1]}
            periodSeconds: 2
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 512Mi}
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: postgres, namespace: %[1]s}
spec:
  selector: {app.kubernetes.io/name: postgres}
  ports: [{name: postgres, port: 5432, targetPort: postgres}]
`, ns, s.Tags["postgres"])
}

// deploy applies the database, the Secrets and the overlay at once, as a
// pipeline would, and waits for everything to be Ready through its probes.
func (s *suite) deploy(t *testing.T) {
	s.collector = startCollector(s.t, s.NodeIP)
	s.apply(t, s.collector.manifests(s.NodeIP))
	s.tokens = map[string]string{"catalog": randomHex(t, 32), "orders": randomHex(t, 32)}
	s.password = randomHex(t, 16)

	start := time.Now()
	s.apply(t, s.secrets(t)+"\n---\n"+postgresTLS(t)+"\n---\n"+s.postgres())
	s.kubectl(t, "apply", "-k", s.overlay, "-n", ns)
	s.kubectl(t, "wait", "-n", ns, "--for=condition=complete", "job", "-l", "app.kubernetes.io/name=orders-migrate", "--timeout=300s")
	migrated := time.Since(start)
	for _, d := range []string{"catalog", "orders"} {
		s.kubectl(t, "rollout", "status", "-n", ns, "deployment/"+d, "--timeout=300s")
	}
	s.figure(t, "deploy: migration Job complete after %.1fs, catalog and orders Available after %.1fs", migrated.Seconds(), time.Since(start).Seconds())

	var jobs struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Status   struct {
				Succeeded int `json:"succeeded"`
				Failed    int `json:"failed"`
			} `json:"status"`
		} `json:"items"`
	}
	s.get(t, &jobs, "jobs", "-n", ns, "-l", "app.kubernetes.io/name=orders-migrate")
	for _, j := range jobs.Items {
		s.figure(t, "job %s: %d succeeded, %d failed attempts", j.Metadata.Name, j.Status.Succeeded, j.Status.Failed)
		if j.Status.Failed > 0 {
			t.Errorf("job %s: %d failed attempts before it succeeded: it should wait for the database", j.Metadata.Name, j.Status.Failed)
		}
	}

	for _, p := range s.pods(t, ns, examples) {
		if !p.ready() || p.restarts() != 0 {
			t.Errorf("pod %s: ready %v, %d restarts", p.Metadata.Name, p.ready(), p.restarts())
		}
	}
	for svc, port := range map[string]string{"catalog": "8080", "orders": "8081"} {
		ip := strings.TrimSpace(s.kubectl(t, "get", "service", svc, "-n", ns, "-o", "jsonpath={.spec.clusterIP}"))
		s.addr[svc] = net.JoinHostPort(ip, port)
	}
	// catalog.v1.Catalog, at the Service's port named grpc.
	s.addr["catalog-grpc"] = strings.TrimSpace(s.kubectl(t, "get", "service", "catalog", "-n", ns, "-o",
		`jsonpath={.spec.clusterIP}:{.spec.ports[?(@.name=="grpc")].port}`))

	// Every probe has run and passed, liveness included (every 10s).
	var counts map[string]map[string]int
	took := eventually(t, 2*time.Minute, 2*time.Second, func() (bool, string) {
		counts = s.probeCounts(t)
		for _, p := range s.pods(t, ns, examples) {
			for _, kind := range []string{"Startup", "Readiness", "Liveness"} {
				if counts[p.Metadata.Name][kind] == 0 {
					return false, fmt.Sprintf("pod %s: no successful %s probe yet (%v)", p.Metadata.Name, kind, counts[p.Metadata.Name])
				}
			}
		}
		return true, ""
	})
	for _, p := range s.pods(t, ns, examples) {
		c := counts[p.Metadata.Name]
		s.figure(t, "pod %s Ready, 0 restarts; successful probes: startup %d, readiness %d, liveness %d (failed: %d)",
			p.Metadata.Name, c["Startup"], c["Readiness"], c["Liveness"], c["failed"])
	}
	t.Logf("every probe had passed %.0fs after the rollouts", took.Seconds())
}

var probeLine = regexp.MustCompile(`^prober_probe_total\{(.*)\} ([0-9.e+]+)$`)
var label = regexp.MustCompile(`(\w+)="([^"]*)"`)

// probeCounts reads the kubelet's prober metrics: per pod, how many probes
// of each kind succeeded ("Readiness"), how many did not ("Readiness
// failed"), and how many did not in all ("failed").
func (s *suite) probeCounts(t testing.TB) map[string]map[string]int {
	t.Helper()
	out := s.kubectl(t, "get", "--raw", "/api/v1/nodes/"+s.Node+"/proxy/metrics/probes")
	counts := map[string]map[string]int{}
	for l := range strings.Lines(out) {
		m := probeLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, kv := range label.FindAllStringSubmatch(m[1], -1) {
			labels[kv[1]] = kv[2]
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		if counts[labels["pod"]] == nil {
			counts[labels["pod"]] = map[string]int{}
		}
		if labels["result"] == "successful" {
			counts[labels["pod"]][labels["probe_type"]] += int(v)
		} else {
			counts[labels["pod"]]["failed"] += int(v)
			counts[labels["pod"]][labels["probe_type"]+" failed"] += int(v)
		}
	}
	return counts
}

// quantity reads a memory quantity of the manifests (128Mi, 1Gi, 500M).
func quantity(q string) (int64, error) {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}} {
		if n, ok := strings.CutSuffix(q, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseInt(q, 10, 64)
}

// memoryLimit: each container's memory limit reaches the Go runtime as
// GOMEMLIMIT, 90% of it, as the start-up log line says.
func (s *suite) memoryLimit(t *testing.T) {
	for _, p := range s.readyPods(t, ns, examples) {
		c := p.Spec.Containers[0]
		limit, err := quantity(c.Resources.Limits["memory"])
		if err != nil {
			t.Fatalf("pod %s: memory limit %q: %v", p.Metadata.Name, c.Resources.Limits["memory"], err)
		}
		want := limit / 10 * 9
		var got int64 = -1
		var source string
		for _, l := range parseLog(s.kubectl(t, "logs", "--timestamps", "-n", ns, p.Metadata.Name, "-c", c.Name)) {
			if v, ok := l.fields["memory_limit"].(float64); ok {
				got, source = int64(v), l.str("memory_limit_source")
				break
			}
		}
		s.figure(t, "pod %s: limit %s = %d bytes; logged memory_limit %d (source %q), want %d", p.Metadata.Name,
			c.Resources.Limits["memory"], limit, got, source, want)
		if got != want {
			t.Errorf("pod %s: the start-up log says memory_limit %d (source %q), want %d, 90%% of the container's %s",
				p.Metadata.Name, got, source, want, c.Resources.Limits["memory"])
		}
	}
}

// targets are the requests of a service's load: catalog's list and one
// slow request (GET /work holds it 2s, what the drain must let finish),
// orders' order, which goes through catalog and the database.
func (s *suite) targets(svc string) []target {
	switch svc {
	case "catalog":
		return []target{
			{http.MethodGet, "http://" + s.addr["catalog"] + "/products", "", http.StatusOK},
			{http.MethodGet, "http://" + s.addr["catalog"] + "/products/p2", "", http.StatusOK},
		}
	default:
		return []target{{http.MethodPost, "http://" + s.addr["orders"] + "/orders", `{"product_id":"p1","quantity":1}`, http.StatusCreated}}
	}
}

func (s *suite) slowTarget() target {
	return target{http.MethodGet, "http://" + s.addr["catalog"] + "/work?duration=2s", "", http.StatusOK}
}

// drainDelay is the deployment's SHUTDOWN_DRAIN_DELAY.
func (s *suite) drainDelay(t testing.TB, deploy string) time.Duration {
	t.Helper()
	v := s.kubectl(t, "get", "deployment", deploy, "-n", ns, "-o",
		`jsonpath={.spec.template.spec.containers[0].env[?(@.name=="SHUTDOWN_DRAIN_DELAY")].value}`)
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		t.Fatalf("deployment %s: SHUTDOWN_DRAIN_DELAY %q: %v", deploy, v, err)
	}
	return d
}

// rolled is what one rollout restart did.
type rolled struct {
	took      time.Duration
	loads     []*load
	shutdowns map[string][]shutdown // per deployment, one per old pod
	bound     map[string]time.Duration
}

// rollout restarts the deployments under load and follows each old pod
// to its end.
func (s *suite) rollout(t *testing.T, deploys []string, keepAlive bool) rolled {
	mode := "a new connection per request"
	if keepAlive {
		mode = "keep-alive"
	}
	r := rolled{shutdowns: map[string][]shutdown{}, bound: map[string]time.Duration{}}
	followers := map[string][]*follower{}
	for _, d := range deploys {
		for _, p := range s.pods(t, ns, "app.kubernetes.io/name="+d) {
			if p.Metadata.DeletionTimestamp != nil {
				continue // the previous rollout's, which followed it to its end
			}
			followers[d] = append(followers[d], s.follow(t, ns, p.Metadata.Name, d))
		}
	}
	for _, d := range deploys {
		targets := s.targets(d)
		r.loads = append(r.loads, startLoad(t, d+", "+mode, keepAlive, 3, 20*time.Millisecond, targets...))
		if d == "catalog" {
			r.loads = append(r.loads, startLoad(t, d+" slow requests, "+mode, keepAlive, 1, 100*time.Millisecond, s.slowTarget()),
				startRPCLoad(t, "catalog gRPC through the Service", s.addr["catalog-grpc"], 3, 20*time.Millisecond).load)
		}
	}
	for _, l := range r.loads {
		l.waitOK(t, 5, time.Minute)
	}
	start := time.Now()
	for _, d := range deploys {
		s.kubectl(t, "rollout", "restart", "-n", ns, "deployment/"+d)
	}
	for _, d := range deploys {
		s.kubectl(t, "rollout", "status", "-n", ns, "deployment/"+d, "--timeout=300s")
	}
	for _, d := range deploys {
		for _, f := range followers[d] {
			if !f.wait(2 * time.Minute) {
				t.Errorf("pod %s still runs 2 minutes after the rollout", f.pod)
			}
		}
	}
	r.took = time.Since(start)
	for _, l := range r.loads {
		l.waitOK(t, 5, time.Minute) // the new pods serve too
		l.stop()
	}
	var slowest time.Duration
	for _, l := range r.loads {
		slowest = max(slowest, time.Duration(l.slowest.Load()))
	}
	for _, d := range deploys {
		r.bound[d] = s.drainDelay(t, d) + slowest + 5*time.Second
		for _, f := range followers[d] {
			r.shutdowns[d] = append(r.shutdowns[d], readShutdown(f.pod, f.lines()))
		}
	}
	return r
}

// check holds a rollout to the rules: no failed request, each old pod
// gone within drain delay + slowest request + 5s, every hook run.
func (s *suite) check(t *testing.T, what string, r rolled) {
	s.figure(t, "%s: rollout %.1fs", what, r.took.Seconds())
	for _, l := range r.loads {
		s.figure(t, "  %s", l)
		if n := l.failed.Load(); n > 0 {
			t.Errorf("%s: %d of %d requests failed: %s", l.name, n, n+l.ok.Load(), l.errors())
		}
	}
	deploys := slices.Sorted(maps.Keys(r.shutdowns))
	for _, d := range deploys {
		for _, sd := range r.shutdowns[d] {
			s.figure(t, "  %s (bound %.1fs)", sd, r.bound[d].Seconds())
			var missing []string
			for _, h := range s.hooks[d] {
				if !slices.Contains(sd.done, h) {
					missing = append(missing, h)
				}
			}
			bad := true
			switch {
			case sd.began.IsZero():
				t.Errorf("%s: no \"shutdown began\" in its log", sd.pod)
			case sd.took > r.bound[d]:
				t.Errorf("%s: shutdown took %.1fs, more than drain delay + slowest request + 5s = %.1fs", sd.pod, sd.took.Seconds(), r.bound[d].Seconds())
			case sd.finished.IsZero() || len(sd.notDone) > 0 || len(missing) > 0:
			default:
				bad = false
			}
			if sd.finished.IsZero() || len(sd.notDone) > 0 || len(missing) > 0 {
				t.Errorf("%s: hooks not done %v (of those a clean shutdown runs: %v missing), \"shutdown done\" logged: %v",
					sd.pod, sd.notDone, missing, !sd.finished.IsZero())
			}
			if bad {
				t.Logf("%s: its log from SIGTERM on:\n    %s", sd.pod, strings.Join(sd.log, "\n    "))
			}
		}
	}
}

func (s *suite) rollouts(t *testing.T) {
	for _, d := range []string{"catalog", "orders"} {
		for _, keepAlive := range []bool{false, true} {
			name := d + "/new connections"
			if keepAlive {
				name = d + "/keep-alive"
			}
			t.Run(name, func(t *testing.T) {
				r := s.rollout(t, []string{d}, keepAlive)
				for _, sd := range r.shutdowns[d] {
					for _, h := range sd.done {
						if !slices.Contains(s.hooks[d], h) {
							s.hooks[d] = append(s.hooks[d], h)
						}
					}
				}
				s.check(t, "rollout restart "+name, r)
			})
		}
		if d == "catalog" {
			t.Run("catalog/grpc readiness probe", s.grpcReadiness)
		}
	}
	s.figure(t, "collector: %d trace exports received so far", s.collector.exports.Load())
}

// resolves reports whether the cluster's DNS has a name, asking CoreDNS
// through its Service as a pod would.
func (s *suite) resolves(name string) (bool, error) {
	var dns string
	out, _, err := s.run(context.Background(), "", "get", "service", "kube-dns", "-n", "kube-system", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		return false, err
	}
	dns = net.JoinHostPort(strings.TrimSpace(out), "53")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dns)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = r.LookupHost(ctx, name)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return false, nil
	}
	return err == nil, err
}

// rolloutWithoutCollector: the same rollout with no trace collector to
// take the last spans, in the two ways a collector goes missing: its name
// gone (the Service deleted: lookups fail at once), and a collector that
// takes connections and never answers (down behind its address,
// overloaded, blackholed: every export waits for its timeout and is
// retried). Neither may cost the rest of the shutdown.
func (s *suite) rolloutWithoutCollector(t *testing.T) {
	t.Run("name gone", func(t *testing.T) {
		const collectorName = "otel-collector.observability.svc.cluster.local"
		s.kubectl(t, "delete", "-n", "observability", "service/otel-collector", "endpointslice/otel-collector-test")
		defer s.apply(s.t, s.collector.manifests(s.NodeIP))
		eventually(t, time.Minute, 500*time.Millisecond, func() (bool, string) {
			ok, err := s.resolves(collectorName)
			return !ok && err == nil, fmt.Sprintf("%s still resolves (err %v)", collectorName, err)
		})
		s.check(t, "rollout restart of catalog and orders, the collector's name gone", s.rollout(t, []string{"catalog", "orders"}, false))
	})
	t.Run("not answering", func(t *testing.T) {
		s.collector.hung.Store(true)
		defer s.collector.hung.Store(false)
		s.check(t, "rollout restart of catalog and orders, the collector not answering", s.rollout(t, []string{"catalog", "orders"}, false))
	})
}

// tokenStatus asks a pod's guarded admin endpoint with a token.
func tokenStatus(c *http.Client, podIP, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(podIP, "9090")+"/debug/health", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// dataLink is where the kubelet's atomic writer points a Secret volume:
// the ..data symlink, swapped in one rename when the Secret changes.
func (s *suite) dataLink(uid, volume string) (string, error) {
	return os.Readlink(filepath.Join(s.KubeletDir, "pods", uid, "volumes", "kubernetes.io~secret", volume, "..data"))
}

// psql runs SQL in the database pod as the superuser, over its socket.
func (s *suite) psql(t testing.TB, sql string) string {
	t.Helper()
	return s.kubectl(t, "exec", "-n", ns, "deployment/postgres", "-c", "postgres", "--",
		"psql", "--username=orders", "--dbname=orders", "--no-psqlrc", "--tuples-only", "--set=ON_ERROR_STOP=1", "--command="+sql)
}

// rotation: the admin tokens and the database password change (ALTER ROLE
// and the Secret together); the kubelet swaps the volumes' ..data, the
// services take the new values without a restart, the old token is
// refused, and no order fails.
func (s *suite) rotation(t *testing.T) {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	type watched struct {
		pod     pod
		service string
		volumes []string
		data    map[string]string
	}
	var pods []watched
	for _, p := range s.readyPods(t, ns, examples) {
		w := watched{pod: p, service: p.Metadata.Labels["app.kubernetes.io/name"], data: map[string]string{}}
		w.volumes = []string{"admin-token"}
		if w.service == "orders" {
			w.volumes = append(w.volumes, "db-password")
		}
		for _, v := range w.volumes {
			link, err := s.dataLink(p.Metadata.UID, v)
			if err != nil {
				t.Fatal(err)
			}
			w.data[v] = link
		}
		if code, err := tokenStatus(client, p.Status.PodIP, s.tokens[w.service]); code != http.StatusOK {
			t.Fatalf("pod %s refuses its current admin token: %d %v", p.Metadata.Name, code, err)
		}
		pods = append(pods, w)
	}

	orders := startLoad(t, "orders during the rotation, new connections", false, 3, 20*time.Millisecond, s.targets("orders")...)
	orders.waitOK(t, 20, time.Minute)

	old := map[string]string{"catalog": s.tokens["catalog"], "orders": s.tokens["orders"], "password": s.password}
	s.tokens = map[string]string{"catalog": randomHex(t, 32), "orders": randomHex(t, 32)}
	s.password = randomHex(t, 16)
	s.psql(t, "ALTER ROLE orders PASSWORD '"+s.password+"'")
	s.apply(t, s.secrets(t))
	changed := time.Now()

	for _, w := range pods {
		for _, v := range w.volumes {
			eventually(t, 3*time.Minute, 100*time.Millisecond, func() (bool, string) {
				link, err := s.dataLink(w.pod.Metadata.UID, v)
				return err == nil && link != w.data[v], fmt.Sprintf("pod %s volume %s: ..data still %s (%v)", w.pod.Metadata.Name, v, link, err)
			})
			s.figure(t, "pod %s: the kubelet swapped %s/..data %.1fs after the Secret changed", w.pod.Metadata.Name, v, time.Since(changed).Seconds())
		}
		took := eventually(t, time.Minute, 100*time.Millisecond, func() (bool, string) {
			newCode, err1 := tokenStatus(client, w.pod.Status.PodIP, s.tokens[w.service])
			oldCode, err2 := tokenStatus(client, w.pod.Status.PodIP, old[w.service])
			return newCode == http.StatusOK && oldCode == http.StatusUnauthorized,
				fmt.Sprintf("pod %s: new token %d (%v), old token %d (%v)", w.pod.Metadata.Name, newCode, err1, oldCode, err2)
		})
		s.figure(t, "pod %s: new admin token accepted, old one refused (401) %.1fs after the Secret changed (%.1fs after the swap)",
			w.pod.Metadata.Name, time.Since(changed).Seconds(), took.Seconds())
	}

	// Connections open before the rotation stay authenticated; close them,
	// so that orders must open new ones with the new password.
	closed := strings.TrimSpace(s.psql(t, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'orders' AND application_name <> 'psql' AND pid <> pg_backend_pid()"))
	orders.waitOK(t, 50, time.Minute)
	orders.stop()
	s.figure(t, "database: %s connections of orders closed after the swap; orders went on with new ones", closed)
	s.figure(t, "  %s", orders)
	if n := orders.failed.Load(); n > 0 {
		t.Errorf("%d orders failed during the rotation: %s", n, orders.errors())
	}
	for _, c := range []struct {
		password string
		accepted bool
	}{{old["password"], false}, {s.password, true}} {
		_, _, err := s.run(context.Background(), "", "exec", "-n", ns, "deployment/postgres", "-c", "postgres", "--", "sh", "-c",
			"PGPASSWORD='"+c.password+"' psql --host=127.0.0.1 --username=orders --dbname=orders --no-psqlrc --command='SELECT 1' >/dev/null")
		if (err == nil) != c.accepted {
			t.Errorf("the database with the password accepted=%v: %v", c.accepted, err)
		}
	}

	for _, w := range pods {
		now := s.pods(t, ns, "app.kubernetes.io/name="+w.service)
		i := slices.IndexFunc(now, func(p pod) bool { return p.Metadata.UID == w.pod.Metadata.UID })
		switch {
		case i < 0:
			t.Errorf("pod %s is gone", w.pod.Metadata.Name)
		case now[i].restarts() != w.pod.restarts():
			t.Errorf("pod %s restarted: %d restarts, %d before", w.pod.Metadata.Name, now[i].restarts(), w.pod.restarts())
		default:
			s.figure(t, "pod %s: restartCount %d, unchanged", w.pod.Metadata.Name, now[i].restarts())
		}
	}
}

var (
	evicted   = regexp.MustCompile(`pod/(\S+) evicted`)
	refusedRe = regexp.MustCompile(`would violate the pod's disruption budget`)
)

// drain: kubectl drain of the node evicts the examples' pods; with the
// PodDisruptionBudgets, one pod of each Deployment goes and the other
// stays (its replacement has nowhere to go on a cordoned single node),
// and the Services keep serving.
func (s *suite) drain(t *testing.T) {
	loads := []*load{
		startLoad(t, "catalog during the drain, new connections", false, 3, 20*time.Millisecond, s.targets("catalog")...),
		startLoad(t, "orders during the drain, keep-alive", true, 3, 20*time.Millisecond, s.targets("orders")...),
	}
	for _, l := range loads {
		l.waitOK(t, 5, time.Minute)
	}
	minReady := map[string]int{"catalog": 99, "orders": 99}
	var mu sync.Mutex
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			out, _, err := s.run(context.Background(), "", "get", "pods", "-n", ns, "-l", examples, "-o", "json")
			if err == nil {
				var list struct {
					Items []pod `json:"items"`
				}
				if json.Unmarshal([]byte(out), &list) == nil {
					ready := map[string]int{}
					for _, p := range list.Items {
						if p.ready() && p.Metadata.DeletionTimestamp == nil {
							ready[p.Metadata.Labels["app.kubernetes.io/name"]]++
						}
					}
					mu.Lock()
					for svc := range minReady {
						minReady[svc] = min(minReady[svc], ready[svc])
					}
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})

	start := time.Now()
	out, stderr, err := s.run(context.Background(), "", "drain", s.Node, "--pod-selector", examples,
		"--ignore-daemonsets", "--delete-emptydir-data", "--timeout=45s")
	drained := time.Since(start)
	t.Cleanup(func() { _, _, _ = s.run(context.Background(), "", "uncordon", s.Node) })
	all := out + stderr
	if err == nil {
		t.Errorf("the drain finished: every pod was evicted, the budgets did not hold")
	}
	perService := map[string]int{}
	for _, m := range evicted.FindAllStringSubmatch(all, -1) {
		for _, svc := range []string{"catalog", "orders"} {
			if strings.HasPrefix(m[1], svc+"-") {
				perService[svc]++
			}
		}
	}
	refused := len(refusedRe.FindAllString(all, -1))
	s.kubectl(t, "uncordon", s.Node)
	for _, d := range []string{"catalog", "orders"} {
		s.kubectl(t, "rollout", "status", "-n", ns, "deployment/"+d, "--timeout=300s")
	}
	for _, l := range loads {
		l.waitOK(t, 5, time.Minute)
		l.stop()
	}
	close(stop)
	sampler.Wait()

	s.figure(t, "drain (--timeout 45s, ended after %.1fs): evicted catalog %d, orders %d; evictions refused by a budget %d; fewest Ready pods: catalog %d, orders %d",
		drained.Seconds(), perService["catalog"], perService["orders"], refused, minReady["catalog"], minReady["orders"])
	for _, l := range loads {
		s.figure(t, "  %s", l)
		if n := l.failed.Load(); n > 0 {
			t.Errorf("%s: %d requests failed: %s", l.name, n, l.errors())
		}
	}
	for _, svc := range []string{"catalog", "orders"} {
		if perService[svc] != 1 {
			t.Errorf("%s: %d pods evicted, want 1 (maxUnavailable 1 of 2)", svc, perService[svc])
		}
		if minReady[svc] < 1 {
			t.Errorf("%s: at one point %d pods were Ready: the budget did not hold", svc, minReady[svc])
		}
	}
	if refused == 0 {
		t.Errorf("no eviction was refused by a budget; drain said:\n%s", all)
	}
}
