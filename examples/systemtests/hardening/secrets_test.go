//go:build linux

package hardening_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// adminToken opens the guarded admin endpoints (/debug/health) to the
// tests; rotatedToken replaces it in the tests that rotate it.
const (
	adminToken   = "hardening-admin-token"
	rotatedToken = "hardening-admin-token-rotated-5e0c"
)

// Readiness checks of orders' password file and both services' admin
// token file.
const (
	passwordCheck   = "database password file"
	adminTokenCheck = "admin token file"
)

// startOrders starts the stack from binaries with env set on both
// services, and adminToken in a token file of their own.
func startOrders(t *testing.T, b e2e.Binaries, env ...string) *e2e.Stack {
	t.Helper()
	return startWithToken(t, b, t.TempDir(), env...)
}

// startWithToken starts the stack with adminToken written into tokenDir
// the way the kubelet writes a Secret volume, as ADMIN_TOKEN_FILE of both
// services. The directory is not the password's: a kubelet update swaps
// the whole volume, so each Secret has its own.
func startWithToken(t *testing.T, b e2e.Binaries, tokenDir string, env ...string) *e2e.Stack {
	t.Helper()
	file := e2e.WriteSecret(t, tokenDir, "token", adminToken+"\n")
	env = append([]string{"ADMIN_TOKEN_FILE=" + file}, env...)
	return e2e.StartStack(t, b, e2e.StackOptions{OrdersEnv: env, CatalogEnv: env})
}

// rotateToken writes token into tokenDir the way the kubelet updates a
// Secret, and waits until both services have logged what reading it did
// (msg: reloaded, or the failed reload).
func rotateToken(t *testing.T, s *e2e.Stack, tokenDir, token, msg string) {
	t.Helper()
	file := filepath.Join(tokenDir, "token")
	about := func(l map[string]any) bool { return l["msg"] == msg && l["path"] == file }
	procs := []*e2e.Proc{s.Orders, s.Catalog}
	seen := make([]int, len(procs))
	for i, p := range procs {
		for _, l := range p.Logs() {
			if about(l) {
				seen[i]++
			}
		}
	}
	e2e.WriteSecret(t, tokenDir, "token", token)
	for i, p := range procs {
		p.WaitLines(about, seen[i]+1, reloadDeadline)
	}
}

// count returns how many of p's log lines have the message.
func count(p *e2e.Proc, msg string) int {
	n := 0
	for _, l := range p.Logs() {
		if l["msg"] == msg {
			n++
		}
	}
	return n
}

// Messages of secrets' log lines.
const (
	msgReloaded    = "secret reloaded"
	msgReloadFail  = "secret reload failed; keeping the last good value"
	msgReadable    = "secret readable again"
	reloadDeadline = 10 * time.Second
)

// rotate changes the role's password, updates the file the way the
// kubelet does, waits until orders has read it, and ends the pool's
// connections so the next ones authenticate with it.
func rotate(t *testing.T, s *e2e.Stack, password string) {
	t.Helper()
	n := count(s.Orders, msgReloaded)
	s.PG.Exec(t, `ALTER ROLE `+e2e.DBRole+` PASSWORD '`+password+`'`)
	e2e.WriteSecret(t, s.SecretDir, "password", password+"\n")
	s.Orders.WaitLines(func(l map[string]any) bool { return l["msg"] == msgReloaded }, n+1, reloadDeadline)
	terminateBackends(t, s)
}

// terminateBackends ends orders' connections to Postgres, so the next
// statement opens (and authenticates) a new one.
func terminateBackends(t *testing.T, s *e2e.Stack) {
	t.Helper()
	s.PG.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '`+e2e.DBRole+`'`)
}

// fault breaks orders' password file one way.
type fault struct {
	name  string
	apply func(t *testing.T, s *e2e.Stack)
}

// garbage is what the garbage fault writes: no password.
const garbage = "\x00\x01\xfe\xffGARBAGE-CONTENT\x1b[0m"

var faults = []fault{
	{"garbage", func(t *testing.T, s *e2e.Stack) { e2e.WriteSecret(t, s.SecretDir, "password", garbage) }},
	{"empty", func(t *testing.T, s *e2e.Stack) { e2e.WriteSecret(t, s.SecretDir, "password", "") }},
	{"directory", func(t *testing.T, s *e2e.Stack) {
		if err := os.Remove(s.PasswordFile); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(s.PasswordFile, 0o750); err != nil {
			t.Fatal(err)
		}
	}},
	{"removed", func(t *testing.T, s *e2e.Stack) {
		if err := os.Remove(s.PasswordFile); err != nil {
			t.Fatal(err)
		}
	}},
}

// breakFile applies f and waits for orders to log the failed reload.
func breakFile(t *testing.T, s *e2e.Stack, f fault) {
	t.Helper()
	n := count(s.Orders, msgReloadFail)
	f.apply(t, s)
	s.Orders.WaitLines(func(l map[string]any) bool { return l["msg"] == msgReloadFail }, n+1, reloadDeadline)
}

// repair puts password back as the file, whatever the fault left there,
// and waits until orders reads it again.
func repair(t *testing.T, s *e2e.Stack, password string) {
	t.Helper()
	if fi, err := os.Lstat(s.PasswordFile); err == nil && fi.IsDir() {
		if err := os.Remove(s.PasswordFile); err != nil {
			t.Fatal(err)
		}
	}
	n := count(s.Orders, msgReadable) + count(s.Orders, msgReloaded)
	e2e.WriteSecret(t, s.SecretDir, "password", password+"\n")
	s.Orders.WaitLines(func(l map[string]any) bool { return l["msg"] == msgReadable || l["msg"] == msgReloaded }, n+1, reloadDeadline)
}

// healthDetail is one check in /debug/health.
type healthDetail struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// details reads orders' /debug/health with the token.
func details(t *testing.T, s *e2e.Stack) (map[string]healthDetail, []byte) {
	t.Helper()
	code, body, err := e2e.Get(s.Client, s.OrdersAdmin+"/debug/health", http.Header{"Authorization": {"Bearer " + adminToken}})
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /debug/health: %d %s %v", code, body, err)
	}
	var d struct{ Checks []healthDetail }
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("/debug/health: %v: %s", err, body)
	}
	out := map[string]healthDetail{}
	for _, c := range d.Checks {
		out[c.Name] = c
	}
	return out, body
}

// readiness reads orders' /readyz and returns its status code, the
// status of the password file check, and the body.
func readiness(t *testing.T, s *e2e.Stack) (int, string, []byte) {
	t.Helper()
	code, body, err := e2e.Get(s.Client, s.OrdersAdmin+"/readyz", nil)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	var r struct {
		Checks map[string][]struct{ Status string }
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	st := ""
	if c := r.Checks[passwordCheck]; len(c) == 1 {
		st = c[0].Status
	}
	return code, st, body
}

// order creates one order and fails the test unless it is created.
func order(t *testing.T, s *e2e.Stack) {
	t.Helper()
	if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p2","quantity":1}`); r.Status != http.StatusCreated {
		t.Fatalf("POST /orders: %d: %s", r.Status, r.Body)
	}
}

// TestSecretFileFaults: the password file turned to garbage, emptied,
// replaced by a directory, removed. Each time orders keeps the last good
// password (new connections authenticate with it), logs the failure,
// reports it through the check (a warning on /readyz, the reason on
// /debug/health), and takes the file back once it is repaired.
func TestSecretFileFaults(t *testing.T) {
	s := startOrders(t, bin.checked)
	order(t, s)
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			breakFile(t, s, f)

			code, st, body := readiness(t, s)
			if code != http.StatusOK || st != "warn" {
				t.Errorf("/readyz with a broken password file: %d, check %q, want 200 and warn: %s", code, st, body)
			}
			d, _ := details(t, s)
			if c := d[passwordCheck]; c.Error == "" || c.Status != "warn" {
				t.Errorf("/debug/health %q: %+v, want a warning with the reason", passwordCheck, c)
			}
			terminateBackends(t, s)
			order(t, s) // a new connection, with the last good password

			repair(t, s, e2e.DBFirstPassword)
			if code, st, body := readiness(t, s); code != http.StatusOK || st != "pass" {
				t.Errorf("/readyz after the repair: %d, check %q: %s", code, st, body)
			}
		})
	}
	if !s.Orders.Running() {
		t.Fatal("orders exited")
	}
}

// TestNoSecretLeaks: orders end to end with debug logging: start, orders,
// two password rotations, every kind of failed reload, shutdown. No
// password value, nor the garbage of a failed reload, appears in any log
// line of either service, in any metrics scrape, or in any health body
// (the guarded details included).
func TestNoSecretLeaks(t *testing.T) {
	passwords := []string{e2e.DBFirstPassword, "rotated-Pw-2-c41f9e07", "rotated-Pw-3-8d2b6a15"}
	tokenDir := t.TempDir()
	s := startWithToken(t, bin.checked, tokenDir, "LOG_LEVEL=debug")
	token := adminToken // the one the services accept now
	var bodies []string
	scrapeAll := func(stage string) {
		t.Helper()
		for _, admin := range []string{s.OrdersAdmin, s.CatalogAdmin} {
			for _, path := range []string{"/metrics", "/livez", "/readyz", "/startupz", "/readyz/" + strings.ReplaceAll(passwordCheck, " ", "%20"), "/readyz/" + strings.ReplaceAll(adminTokenCheck, " ", "%20"), "/readyz/postgres", "/loglevel", "/debug/health"} {
				code, body, err := e2e.Get(s.Client, admin+path, http.Header{"Authorization": {"Bearer " + token}})
				if err != nil {
					t.Fatalf("%s: GET %s%s: %v", stage, admin, path, err)
				}
				if path == "/loglevel" && !strings.Contains(string(body), `"debug"`) {
					t.Fatalf("%s: log level %s, want debug", admin, body)
				}
				_ = code // 404 for the checks catalog does not have; the body is searched all the same
				bodies = append(bodies, stage+" "+admin+path+": "+string(body))
			}
		}
	}

	order(t, s)
	scrapeAll("start")
	for _, p := range passwords[1:] {
		rotate(t, s, p)
		order(t, s)
		scrapeAll("rotated")
	}
	rotateToken(t, s, tokenDir, rotatedToken+"\n", msgReloaded)
	token = rotatedToken
	scrapeAll("admin token rotated")
	for _, f := range faults {
		breakFile(t, s, f)
		scrapeAll("broken: " + f.name)
		repair(t, s, passwords[len(passwords)-1])
	}
	order(t, s)
	scrapeAll("end")

	for _, p := range []*e2e.Proc{s.Orders, s.Catalog} {
		p.Signal(syscall.SIGTERM)
		if code := p.Exit(20 * time.Second); code != 0 {
			t.Errorf("%s exited %d", p.Name(), code)
		}
	}

	secrets := append(passwords, "GARBAGE-CONTENT", adminToken, rotatedToken)
	var logLines int
	for _, p := range []*e2e.Proc{s.Orders, s.Catalog} {
		lines := append(p.Lines(), strings.Split(p.Stderr(), "\n")...)
		logLines += len(lines)
		for _, line := range lines {
			for _, secret := range secrets {
				if strings.Contains(line, secret) {
					t.Errorf("%s logged %q: %s", p.Name(), secret, line)
				}
			}
		}
	}
	reasons := 0 // bodies that carry a failed reload's error text
	for _, body := range bodies {
		if strings.Contains(body, "password file does not hold a password") {
			reasons++
		}
		for _, secret := range secrets {
			if strings.Contains(body, secret) {
				t.Errorf("an admin endpoint shows %q: %s", secret, body)
			}
		}
	}
	t.Logf("searched %d log lines and %d admin bodies for %d secret values", logLines, len(bodies), len(secrets))
	if reasons == 0 {
		t.Error("no admin body showed the garbage's validation error: the search did not cover the error texts")
	}
	if n := count(s.Orders, msgReloadFail); n < len(faults) {
		t.Errorf("%d failed reloads logged, want at least %d: the search covered less than it should", n, len(faults))
	}
}

// TestAdminTokenRotation: the admin token file rotated the way the kubelet
// updates a Secret switches which token both services accept, without a
// restart; a token file turned bad keeps the last good token and warns on
// /readyz.
func TestAdminTokenRotation(t *testing.T) {
	tokenDir := t.TempDir()
	s := startWithToken(t, bin.checked, tokenDir)
	admins := map[string]string{"orders": s.OrdersAdmin, "catalog": s.CatalogAdmin}
	started := map[string]int{"orders": s.Orders.PID(), "catalog": s.Catalog.PID()}
	steps := []struct {
		name     string
		content  string // the token file's new content
		logged   string // what each service logs once it has read it
		accepted string
		refused  string
		check    string // status of the admin token file check on /readyz
	}{
		{"started", "", "", adminToken, rotatedToken, "pass"},
		{"rotated", rotatedToken + "\n", msgReloaded, rotatedToken, adminToken, "pass"},
		{"too short: the last good token stays", "short\n", msgReloadFail, rotatedToken, adminToken, "warn"},
		{"rotated back", adminToken + "\n", msgReloaded, adminToken, rotatedToken, "pass"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.content != "" {
				rotateToken(t, s, tokenDir, st.content, st.logged)
			}
			for name, admin := range admins {
				for token, want := range map[string]int{st.accepted: http.StatusOK, st.refused: http.StatusUnauthorized} {
					code, body, err := e2e.Get(s.Client, admin+"/debug/health", http.Header{"Authorization": {"Bearer " + token}})
					if err != nil || code != want {
						t.Errorf("%s /debug/health with %q: %d %v, want %d: %s", name, token, code, err, want, body)
					}
				}
				if got := checkStatus(t, s, admin, adminTokenCheck); got != st.check {
					t.Errorf("%s /readyz: check %q is %q, want %q", name, adminTokenCheck, got, st.check)
				}
			}
		})
	}
	for name, p := range map[string]*e2e.Proc{"orders": s.Orders, "catalog": s.Catalog} {
		if !p.Running() || p.PID() != started[name] {
			t.Errorf("%s restarted or exited: the rotation must need no restart", name)
		}
		for _, line := range p.Lines() {
			if strings.Contains(line, adminToken) || strings.Contains(line, rotatedToken) {
				t.Errorf("%s logged a token: %s", name, line)
			}
		}
	}
}

// checkStatus returns the status /readyz of the admin port gives the
// named check ("" when it has none).
func checkStatus(t *testing.T, s *e2e.Stack, admin, check string) string {
	t.Helper()
	_, body, err := e2e.Get(s.Client, admin+"/readyz", nil)
	if err != nil {
		t.Fatalf("GET %s/readyz: %v", admin, err)
	}
	var r struct {
		Checks map[string][]struct{ Status string }
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s/readyz: %v: %s", admin, err, body)
	}
	if c := r.Checks[check]; len(c) == 1 {
		return c[0].Status
	}
	return ""
}
