package containers_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/prodready/prodready/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The version and commit stamped into the test images; the services must
// show them in their logs and build_info.
const (
	testVersion = "1.2.3-containers-test"
	testLabel   = "io.prodready.test=containers"
	mib         = int64(1) << 20
)

type imageSet struct {
	catalog, orders, postgres string
	commit                    string
}

var (
	buildOnce sync.Once
	built     imageSet
	buildErr  error
)

// images builds the base images (scripts/docker-images) and both service
// images once per test run; a later call returns the same images. Docker's
// layer cache and the builder's warm Go build cache make a rebuild of
// unchanged code take seconds.
func images(t *testing.T) imageSet {
	t.Helper()
	requireDocker(t)
	buildOnce.Do(func() { built, buildErr = buildImages() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.Missing(t, "docker", "install Docker and start its engine")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		testenv.Missing(t, "the Docker engine", fmt.Sprintf("docker info: %v: %s", err, bytes.TrimSpace(out)))
	}
}

func buildImages() (imageSet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := filepath.Abs(filepath.Join(examplesDir, ".."))
	if err != nil {
		return imageSet{}, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "docker-images")) // #nosec G204 -- the repository's own script
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return imageSet{}, fmt.Errorf("scripts/docker-images: %w\n%s", err, stderr.Bytes())
	}
	base := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			base[k] = v
		}
	}
	if base["BUILDER_IMAGE"] == "" || base["POSTGRES_IMAGE"] == "" {
		return imageSet{}, fmt.Errorf("scripts/docker-images printed no BUILDER_IMAGE or POSTGRES_IMAGE:\n%s\n%s", out, stderr.Bytes())
	}
	set := imageSet{postgres: base["POSTGRES_IMAGE"], commit: "0000000000000000000000000000000000000000"}
	if c, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil { // #nosec G204 -- fixed arguments
		set.commit = strings.TrimSpace(string(c))
	}
	for _, s := range []struct {
		name, port, grpcPort string
		into                 *string
	}{{"catalog", "8080", "9000", &set.catalog}, {"orders", "8081", "", &set.orders}} {
		tag := "prodready/" + s.name + ":" + testVersion
		out, err := exec.CommandContext(ctx, "docker", "build", "-q", "--force-rm", // #nosec G204 -- fixed arguments
			"-f", filepath.Join(root, "examples", "Dockerfile"),
			"--build-arg", "BUILDER_IMAGE="+base["BUILDER_IMAGE"],
			"--build-arg", "RUNTIME_IMAGE=scratch",
			"--build-arg", "SERVICE="+s.name,
			"--build-arg", "HTTP_PORT="+s.port,
			"--build-arg", "GRPC_PORT="+s.grpcPort,
			"--build-arg", "VERSION="+testVersion,
			"--build-arg", "COMMIT="+set.commit,
			"-t", tag, root).CombinedOutput()
		if err != nil {
			return imageSet{}, fmt.Errorf("docker build %s: %w\n%s\n(if a go.sum entry is missing: the image builds examples/ in module mode; cd examples && GOWORK=off go mod tidy)", s.name, err, out)
		}
		*s.into = tag
	}
	return set, nil
}

// docker runs the docker CLI and returns its trimmed standard output.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dockerErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...) // #nosec G204 -- the docker CLI with the test's own arguments
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// hardened are the production flags of the issue: read-only root, no
// capabilities, no privilege escalation, the image's non-root user, a
// memory and CPU limit.
var hardened = []string{
	"--read-only", "--cap-drop=ALL", "--security-opt", "no-new-privileges",
	"--user", "65532:65532", "--memory", "64m", "--cpus", "0.5",
}

// run starts a container, removed when the test ends (its logs are shown
// when the test failed).
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	id := docker(t, append([]string{"run", "-d", "--name", name, "--label", testLabel}, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command("docker", "logs", "--tail", "40", id).CombinedOutput() // #nosec G204 -- a container id
			t.Logf("last logs of %s:\n%s", name, logs)
		}
		_, _ = dockerErr("rm", "-f", "-v", id)
	})
	return id
}

type containerState struct {
	Status     string `json:"Status"`
	Running    bool   `json:"Running"`
	ExitCode   int    `json:"ExitCode"`
	Pid        int    `json:"Pid"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
	Health     *struct {
		Status string `json:"Status"`
	} `json:"Health"`
}

func inspectState(t *testing.T, id string) containerState {
	t.Helper()
	var st containerState
	if err := json.Unmarshal([]byte(docker(t, "inspect", "-f", "{{json .State}}", id)), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitHealthy waits for Docker's own health status, which runs the image's
// HEALTHCHECK (the binary's healthcheck subcommand).
func waitHealthy(t *testing.T, id string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := inspectState(t, id)
		if st.Health != nil && st.Health.Status == "healthy" {
			return
		}
		if !st.Running {
			t.Fatalf("container %s stopped (exit %d) before it was healthy", id[:12], st.ExitCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not healthy after %v: %+v", id[:12], within, st.Health)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// hostPort is the 127.0.0.1 port Docker published for a container port.
func hostPort(t *testing.T, id, port string) string {
	t.Helper()
	out := docker(t, "port", id, port+"/tcp")
	for line := range strings.Lines(out) {
		if addr := strings.TrimSpace(line); strings.HasPrefix(addr, "127.0.0.1:") {
			return addr
		}
	}
	t.Fatalf("container port %s is not published on 127.0.0.1: %q", port, out)
	return ""
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// logLines returns a container's log lines (stdout and stderr), each
// decoded as a JSON object; a line that is not one fails the test.
func logLines(t *testing.T, id string) []map[string]any {
	t.Helper()
	out, err := exec.Command("docker", "logs", id).CombinedOutput() // #nosec G204 -- a container id
	if err != nil {
		t.Fatalf("docker logs: %v: %s", err, out)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("log line is not a JSON object: %q", sc.Text())
			continue
		}
		lines = append(lines, m)
	}
	return lines
}

func findLog(lines []map[string]any, msg string) map[string]any {
	for _, l := range lines {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// TestImages: both images build here; the runtime image holds the binary
// and CA roots and nothing else (no shell, no package manager), is under
// 30 MB, and carries the user, health check, stop signal and version.
func TestImages(t *testing.T) {
	imgs := images(t)
	for _, tt := range []struct {
		image string
		port  string
	}{{imgs.catalog, "8080"}, {imgs.orders, "8081"}} {
		t.Run(tt.image, func(t *testing.T) {
			size, err := strconv.ParseInt(docker(t, "image", "inspect", "-f", "{{.Size}}", tt.image), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if size >= 30*1000*1000 {
				t.Errorf("image is %d bytes, want under 30 MB", size)
			}
			t.Logf("image size %.1f MB", float64(size)/1e6)

			var cfg struct {
				User         string
				StopSignal   string
				Entrypoint   []string
				ExposedPorts map[string]any
				Labels       map[string]string
				Healthcheck  struct{ Test []string }
			}
			if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "-f", "{{json .Config}}", tt.image)), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.User != "65532:65532" || cfg.StopSignal != "SIGTERM" || !slices.Equal(cfg.Entrypoint, []string{"/app"}) {
				t.Errorf("user %q, stop signal %q, entrypoint %q; want 65532:65532, SIGTERM, [/app]", cfg.User, cfg.StopSignal, cfg.Entrypoint)
			}
			if !slices.Equal(cfg.Healthcheck.Test, []string{"CMD", "/app", "healthcheck"}) {
				t.Errorf("healthcheck %q, want the binary's own subcommand", cfg.Healthcheck.Test)
			}
			for _, p := range []string{tt.port + "/tcp", "9090/tcp"} {
				if _, ok := cfg.ExposedPorts[p]; !ok {
					t.Errorf("port %s not exposed: %v", p, cfg.ExposedPorts)
				}
			}
			if cfg.Labels["org.opencontainers.image.version"] != testVersion || cfg.Labels["org.opencontainers.image.revision"] != imgs.commit {
				t.Errorf("labels %v: want version %s and revision %s", cfg.Labels, testVersion, imgs.commit)
			}

			files := imageFiles(t, tt.image)
			if want := []string{"app", "etc/ssl/certs/ca-certificates.crt"}; !slices.Equal(files, want) {
				t.Errorf("image files %q, want only %q", files, want)
			}
			if out, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/bin/sh", tt.image, "-c", "true").CombinedOutput(); err == nil { // #nosec G204 -- a test image
				t.Errorf("the image ran /bin/sh: %s", out)
			}
		})
	}
}

// imageFiles lists the regular files and symlinks of an image's
// filesystem, without what Docker adds to every container.
func imageFiles(t *testing.T, image string) []string {
	t.Helper()
	id := docker(t, "create", "--label", testLabel, image)
	defer func() { _, _ = dockerErr("rm", "-f", id) }()
	cmd := exec.Command("docker", "export", id) // #nosec G204 -- a container id
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dockerAdds := map[string]bool{".dockerenv": true, "etc/hostname": true, "etc/hosts": true, "etc/resolv.conf": true, "etc/mtab": true}
	var files []string
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if dockerAdds[name] || strings.HasPrefix(name, "dev/") || strings.HasPrefix(name, "proc/") || strings.HasPrefix(name, "sys/") {
			continue
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeSymlink {
			files = append(files, name)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// TestCatalogHardened runs catalog with the production flags: it becomes
// healthy by its own HEALTHCHECK, runs as 65532 with no capabilities and
// no way to gain privileges, logs JSON only, hands 90% of the 64 MiB
// limit to the Go runtime, shows the stamped version, and writes nothing
// to its filesystem.
func TestCatalogHardened(t *testing.T) {
	imgs := images(t)
	id := run(t, randomName("catalog-hardened"), append(slices.Clone(hardened),
		"--health-interval", "1s", "--health-start-period", "30s",
		"-p", "127.0.0.1::8080", "-p", "127.0.0.1::9090", imgs.catalog)...)
	waitHealthy(t, id, time.Minute)
	state := inspectState(t, id)

	t.Run("process runs as 65532 with no capabilities and no new privileges", func(t *testing.T) {
		status := string(readFile(t, fmt.Sprintf("/proc/%d/status", state.Pid)))
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^Uid:\s+65532\s+65532\s+65532\s+65532$`),
			regexp.MustCompile(`(?m)^Gid:\s+65532\s+65532\s+65532\s+65532$`),
			regexp.MustCompile(`(?m)^CapEff:\s+0+$`),
			regexp.MustCompile(`(?m)^CapBnd:\s+0+$`),
			regexp.MustCompile(`(?m)^NoNewPrivs:\s+1$`),
		} {
			if !want.MatchString(status) {
				t.Errorf("/proc/%d/status has no line matching %s", state.Pid, want)
			}
		}
	})
	t.Run("it serves", func(t *testing.T) {
		if code, body := get(t, "http://"+hostPort(t, id, "8080")+"/products/p1"); code != http.StatusOK {
			t.Errorf("GET /products/p1 = %d %s", code, body)
		}
	})
	t.Run("logs are JSON, with GOMAXPROCS and the memory limit from the cgroup", func(t *testing.T) {
		start := findLog(logLines(t, id), "starting")
		if start == nil {
			t.Fatal("no \"starting\" line")
		}
		want := float64(64 * mib / 10 * 9)
		if start["memory_limit"] != want || start["memory_limit_source"] != "cgroup" {
			t.Errorf("memory_limit %v from %v, want %v (90%% of 64 MiB) from cgroup", start["memory_limit"], start["memory_limit_source"], int64(want))
		}
		if p, ok := start["gomaxprocs"].(float64); !ok || p < 1 {
			t.Errorf("gomaxprocs %v", start["gomaxprocs"])
		}
	})
	t.Run("the stamped version is in the logs and build_info", func(t *testing.T) {
		start := findLog(logLines(t, id), "starting")
		if start == nil || start["version"] != testVersion {
			t.Errorf("starting line %v: want version %q (stamped with -X internal/buildinfo.version)", start, testVersion)
		}
		_, metrics := get(t, "http://"+hostPort(t, id, "9090")+"/metrics")
		if !regexp.MustCompile(`build_info\{[^}]*version="` + regexp.QuoteMeta(testVersion) + `"`).MatchString(metrics) {
			t.Errorf("build_info without version %q:\n%s", testVersion, grepLines(metrics, "build_info"))
		}
	})
	t.Run("nothing is written to the container's filesystem", func(t *testing.T) {
		if diff := docker(t, "diff", id); diff != "" {
			t.Errorf("docker diff:\n%s", diff)
		}
	})
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestGracefulStop: docker stop (SIGTERM) while a 3s request is in flight.
// The request completes with 200 and the container exits 0, within the
// grace period the compose file and manifests give it.
func TestGracefulStop(t *testing.T) {
	imgs := images(t)
	const grace = 35 * time.Second // compose's stop_grace_period and the manifests' terminationGracePeriodSeconds
	id := run(t, randomName("catalog-stop"), append(slices.Clone(hardened),
		"--health-interval", "1s", "-p", "127.0.0.1::8080", "-p", "127.0.0.1::9090", imgs.catalog)...)
	waitHealthy(t, id, time.Minute)
	app, admin := hostPort(t, id, "8080"), hostPort(t, id, "9090")

	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Get("http://" + app + "/work?duration=3s")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err}
	}()

	// Stop only once the request is being served, as the service itself
	// counts it: no guess at how long a request takes to arrive.
	inFlight := regexp.MustCompile(`(?m)^http_requests_in_flight(\{[^}]*\})? 1$`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, m := get(t, "http://"+admin+"/metrics"); inFlight.MatchString(m) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the /work request never showed in http_requests_in_flight")
		}
		time.Sleep(50 * time.Millisecond)
	}

	began := time.Now()
	docker(t, "stop", "-t", strconv.Itoa(int(grace.Seconds())), id)
	took := time.Since(began)

	r := <-done
	if r.err != nil || r.code != http.StatusOK {
		t.Errorf("the in-flight request: %d %q %v; want 200", r.code, r.body, r.err)
	}
	st := inspectState(t, id)
	if st.ExitCode != 0 {
		t.Errorf("exit code %d, want 0", st.ExitCode)
	}
	if took >= grace {
		t.Errorf("docker stop took %v: the grace period ran out (SIGKILL)", took)
	}
	t.Logf("docker stop took %v", took)
	lines := logLines(t, id)
	for _, l := range lines {
		if l["level"] == "error" || l["level"] == "fatal" {
			t.Errorf("error logged during shutdown: %v", l)
		}
	}
}

// secretsDir is a directory laid out the way the kubelet writes a Secret
// volume: files are symlinks through ..data to a timestamped directory,
// and an update swaps ..data atomically.
type secretsDir struct {
	dir string
	gen int
}

func newSecretsDir(t *testing.T, files map[string]string) *secretsDir {
	t.Helper()
	d := &secretsDir{dir: t.TempDir()}
	// The container's user must reach the files: the temporary directory
	// is private to this process's user.
	if err := os.Chmod(d.dir, 0o755); err != nil { // #nosec G302 -- a test directory holding a throwaway password, read by the container's user
		t.Fatal(err)
	}
	d.write(t, files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(d.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// write makes a new timestamped directory and swaps ..data to it.
func (d *secretsDir) write(t *testing.T, files map[string]string) {
	t.Helper()
	d.gen++
	ts := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", d.gen, d.gen)
	if err := os.Mkdir(filepath.Join(d.dir, ts), 0o755); err != nil { // #nosec G301 -- read by the container's user
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d.dir, ts, name), []byte(content), 0o644); err != nil { // #nosec G306 -- read by the container's user
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(d.dir, "..data"))
	tmp := filepath.Join(d.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(d.dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOrdersStack runs Postgres, catalog and orders on a private Docker
// network, each hardened, with orders' password in a bind-mounted
// Kubernetes-style secrets directory.
func TestOrdersStack(t *testing.T) {
	imgs := images(t)
	network := randomName("prodready-test")
	docker(t, "network", "create", "--label", testLabel, network)
	t.Cleanup(func() { _, _ = dockerErr("network", "rm", network) })

	const dbURL = "postgres://orders@postgres:5432/orders?sslmode=disable"
	secrets := newSecretsDir(t, map[string]string{"password": "first-password"})
	pgInit := t.TempDir()
	if err := os.Chmod(pgInit, 0o755); err != nil { // #nosec G302 -- read by the database container's user
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pgInit, "password"), []byte("first-password"), 0o644); err != nil { // #nosec G306 -- read by the database container's user
		t.Fatal(err)
	}
	pg := run(t, randomName("postgres"), "--network", network, "--network-alias", "postgres",
		"--cap-drop=ALL", "--security-opt", "no-new-privileges", "--memory", "256m",
		"-v", pgInit+":/run/secrets/init:ro",
		"-e", "POSTGRES_USER=orders", "-e", "POSTGRES_DB=orders", "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/init/password",
		"--health-cmd", "pg_isready -U orders -d orders", "--health-interval", "1s",
		imgs.postgres)
	catalog := run(t, randomName("catalog"), append(slices.Clone(hardened),
		"--network", network, "--network-alias", "catalog", "--health-interval", "1s", imgs.catalog)...)
	waitHealthy(t, pg, time.Minute)

	orderEnv := []string{
		"-e", "DATABASE_URL=" + dbURL,
		"-e", "DATABASE_PASSWORD_FILE=/var/run/secrets/orders-db/password",
		"-v", secrets.dir + ":/var/run/secrets/orders-db:ro",
	}
	// Migrations are a step of their own, before the service starts.
	migrate := exec.Command("docker", append(append(append([]string{"run", "--rm", "--label", testLabel, "--network", network}, hardened...), orderEnv...), imgs.orders, "migrate")...) // #nosec G204 -- the test's own arguments
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("orders migrate: %v\n%s", err, out)
	}
	orders := run(t, randomName("orders"), append(append(slices.Clone(hardened), orderEnv...),
		"--network", network, "--health-interval", "1s", "-p", "127.0.0.1::8081",
		"-e", "CATALOG_URL=http://catalog:8080", "-e", "CATALOG_READY_URL=http://catalog:9090/readyz",
		"-e", "HEALTH_CHECK_INTERVAL=1s", imgs.orders)...)
	waitHealthy(t, catalog, time.Minute)
	waitHealthy(t, orders, time.Minute)
	ordersURL := "http://" + hostPort(t, orders, "8081") + "/orders"
	startedAt := inspectState(t, orders).StartedAt

	post := func(t *testing.T, correlationID string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, ordersURL, strings.NewReader(`{"product_id":"p1","quantity":2}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Correlation-ID", correlationID)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("an order reaches catalog by service name, one correlation ID in both logs", func(t *testing.T) {
		cid := randomName("containers-test")
		if code, body := post(t, cid); code != http.StatusCreated {
			t.Fatalf("POST /orders = %d %s", code, body)
		}
		for _, c := range []struct{ name, id string }{{"orders", orders}, {"catalog", catalog}} {
			if !eventually(10*time.Second, func() bool { return hasCorrelationID(t, c.id, cid) }) {
				t.Errorf("no %s log line with correlation_id %q", c.name, cid)
			}
		}
	})

	t.Run("a rotated password is picked up without a restart", func(t *testing.T) {
		// The database changes the password and drops the pool's
		// connections; with the old password on file, orders cannot
		// reconnect: the test can tell a rotation from no rotation.
		psql := func(sql string) {
			docker(t, "exec", pg, "psql", "-v", "ON_ERROR_STOP=1", "-U", "orders", "-d", "orders", "-Atc", sql)
		}
		psql(`ALTER ROLE orders PASSWORD 'second-password'`)
		psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'orders' AND pid <> pg_backend_pid()`)
		if code, _ := post(t, randomName("before-rotation")); code == http.StatusCreated {
			t.Fatal("an order was stored with the old password after the database changed it: the test cannot see a rotation")
		}

		secrets.write(t, map[string]string{"password": "second-password"})
		var code int
		var body string
		if !eventually(20*time.Second, func() bool { code, body = post(t, randomName("after-rotation")); return code == http.StatusCreated }) {
			t.Fatalf("after the ..data swap, POST /orders = %d %s", code, body)
		}
		if st := inspectState(t, orders); st.StartedAt != startedAt || !st.Running {
			t.Errorf("orders restarted: started %s, then %s", startedAt, st.StartedAt)
		}
	})
}

func hasCorrelationID(t *testing.T, id, cid string) bool {
	for _, l := range logLines(t, id) {
		if l["correlation_id"] == cid {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds or the time is up: for outcomes
// another process decides on its own schedule (a log line flushed, a file
// watcher's debounce), never to paper over a race in this process.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
