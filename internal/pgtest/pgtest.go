//go:build unix

package pgtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

const (
	// SuperUser is the name of the server's superuser.
	SuperUser = "postgres"
	// SuperPassword is the superuser's password over TCP.
	SuperPassword = "postgres"
)

// startTimeout bounds how long a start may take: initdb plus the server
// reaching "ready" takes about a second on a slow machine.
const startTimeout = 60 * time.Second

// stopTimeout bounds a fast shutdown before the server is killed.
const stopTimeout = 30 * time.Second

// Server is a private PostgreSQL server. Its methods are safe for use by
// several goroutines, but starting and stopping belong to one test.
type Server struct {
	bin  string // directory of the server binaries
	dir  string // temporary directory: data, socket, log
	port int
	cred *syscall.Credential // nil: run as ourselves

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of the postmaster.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, valid after done
}

// Start initialises a new cluster and starts a server on a free port. It
// skips the test (fails it in CI) when the PostgreSQL server binaries are
// not installed. The server is stopped and its files removed when the test
// and its subtests end.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		testenv.Missing(t, "PostgreSQL server", "install Debian's postgresql package (./scripts/setup does): "+err.Error())
	}
	cred, err := unprivileged()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s := &Server{bin: bin, dir: dir, cred: cred}
	t.Cleanup(s.cleanup)

	if err := s.initdb(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if s.port, err = freePort(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s.Start(t)
	return s
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int { return s.port }

// DSN returns a keyword/value connection string for database db as user.
// An empty password leaves the password out, for clients that supply it
// another way (a password file, a BeforeConnect hook).
func (s *Server) DSN(db, user, password string) string {
	kv := []string{
		"host=127.0.0.1",
		"port=" + strconv.Itoa(s.port),
		"dbname=" + quote(db),
		"user=" + quote(user),
	}
	if password != "" {
		kv = append(kv, "password="+quote(password))
	}
	kv = append(kv, "sslmode=disable")
	return strings.Join(kv, " ")
}

// quote quotes a value of a keyword/value connection string as libpq
// documents: single quotes, with backslash escaping ' and \.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`+"\t\n\r") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// Exec runs sql as the superuser in the database "postgres" and fails the
// test on any error. Statements run one by one outside a transaction, so
// CREATE DATABASE may appear among others.
func (s *Server) Exec(t testing.TB, sql string) {
	t.Helper()
	if _, err := s.psql(sql); err != nil {
		t.Fatalf("pgtest: exec %q: %v", sql, err)
	}
}

// Query runs sql as the superuser in the database "postgres" and returns
// its output unaligned, without headers: one line per row, columns
// separated by "|", with the trailing newline removed.
func (s *Server) Query(t testing.TB, sql string) string {
	t.Helper()
	out, err := s.psql(sql)
	if err != nil {
		t.Fatalf("pgtest: query %q: %v", sql, err)
	}
	return strings.TrimSuffix(out, "\n")
}

func (s *Server) psql(sql string) (string, error) {
	// #nosec G204 -- the binary is the installed psql, the arguments are ours.
	cmd := exec.Command(filepath.Join(s.bin, "psql"),
		"--no-psqlrc", "--quiet", "--no-align", "--tuples-only",
		"--set=ON_ERROR_STOP=1",
		"--host="+s.socketDir(), "--port="+strconv.Itoa(s.port),
		"--username="+SuperUser, "--dbname=postgres", "--file=-")
	cmd.Env = env()
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Start starts the server again after Stop or Kill, on the same data and
// the same port, and waits until it accepts connections. It does nothing
// when the server is running.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return
	}
	p, err := s.startProcess()
	if err != nil {
		t.Fatalf("pgtest: %v\n%s", err, s.logTail())
	}
	s.proc = p
}

// Stop shuts the server down the fast way (SIGINT): open transactions are
// rolled back, clients are disconnected, and it waits until the server has
// exited. New connections are refused from then on.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(syscall.SIGINT); err != nil {
		t.Fatalf("pgtest: stop: %v", err)
	}
}

// Kill shuts the server down immediately (SIGQUIT), as a crash would: no
// checkpoint, so the next Start runs crash recovery.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.stop(syscall.SIGQUIT); err != nil {
		t.Fatalf("pgtest: kill: %v", err)
	}
}

// Freeze stops the server and every one of its processes with SIGSTOP,
// as a host that hangs would: open connections stay open and get no
// answer, new ones are accepted by the kernel and never served. Thaw
// resumes it; so do Stop, Kill and the end of the test.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	if err := s.signalAll(syscall.SIGSTOP); err != nil {
		t.Fatalf("pgtest: freeze: %v", err)
	}
}

// Thaw resumes a server that Freeze stopped.
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	if err := s.signalAll(syscall.SIGCONT); err != nil {
		t.Fatalf("pgtest: thaw: %v", err)
	}
}

// signalAll sends sig to the postmaster, then to each of its children
// (backends, checkpointer, ...), which are each in a session of their
// own, so no process group holds them all. Stopped first, the postmaster
// forks no child the list would miss.
func (s *Server) signalAll(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return errors.New("the server is not running")
	}
	return signalTree(s.proc.cmd.Process.Pid, sig)
}

// signalTree sends sig to pid, then to its children.
func signalTree(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	kids, err := children(pid)
	if err != nil {
		return err
	}
	for _, kid := range kids {
		if err := syscall.Kill(kid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	return nil
}

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	// A frozen server handles the signal only once it runs again.
	_ = signalTree(p.cmd.Process.Pid, syscall.SIGCONT)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("server did not exit within %v of %v; killed", stopTimeout, sig)
	}
}

// cleanup stops the server (immediately: the data is thrown away) and
// removes its files.
func (s *Server) cleanup() {
	_ = s.stop(syscall.SIGQUIT)
	_ = os.RemoveAll(s.dir)
}

func (s *Server) dataDir() string   { return filepath.Join(s.dir, "data") }
func (s *Server) socketDir() string { return s.dir }
func (s *Server) logFile() string   { return filepath.Join(s.dir, "server.log") }

// initdb creates the cluster, owned by the user the server runs as.
func (s *Server) initdb() error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(SuperPassword+"\n"), 0o600); err != nil {
		return err
	}
	if err := s.giveAway(s.dir, pwfile); err != nil {
		return err
	}
	// #nosec G204 -- the binary is the installed initdb, the arguments are ours.
	cmd := exec.Command(filepath.Join(s.bin, "initdb"),
		"--pgdata="+s.dataDir(), "--username="+SuperUser, "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Env = env()
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr(s.cred)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return os.Remove(pwfile)
}

// giveAway hands the paths to the user the server runs as.
func (s *Server) giveAway(paths ...string) error {
	if s.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// startProcess runs the postmaster and waits until it reports "ready" in
// its postmaster.pid, which, unlike an open port, means that it accepts
// connections.
func (s *Server) startProcess() (*process, error) {
	// #nosec G304 -- the log file is in our own temporary directory.
	log, err := os.OpenFile(s.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()

	// #nosec G204 -- the binary is the installed postgres, the arguments are ours.
	cmd := exec.Command(filepath.Join(s.bin, "postgres"),
		"-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.socketDir(),
		// Durability against power loss is not what these tests are about;
		// commits still reach the WAL, so Kill loses nothing committed.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB",
		"-c", "max_connections=100",
		"-c", "log_min_messages=warning")
	cmd.Env = env()
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr(s.cred)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.ready(cmd.Process.Pid) {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("postgres exited during start: %w", p.err)
		case <-deadline.C:
			_ = cmd.Process.Kill()
			<-p.done
			return nil, fmt.Errorf("postgres not ready within %v", startTimeout)
		case <-tick.C:
		}
	}
}

// ready reports whether the postmaster with pid has written "ready" as the
// status line of postmaster.pid. A file left by an earlier run names
// another pid.
func (s *Server) ready(pid int) bool {
	// #nosec G304 -- the path is in our own data directory.
	f, err := os.Open(filepath.Join(s.dataDir(), "postmaster.pid"))
	if err != nil {
		return false
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	// Line 1 is the pid, line 8 the status (PM_STATUS_READY is "ready").
	return len(lines) >= 8 && lines[0] == strconv.Itoa(pid) && lines[7] == "ready"
}

// logTail returns the end of the server's log, to explain a failed start.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logFile())
	if err != nil {
		return ""
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "server log:\n" + string(b)
}

// env is the environment of every child: the C locale, so initdb does not
// depend on the host's locales, and no PG* variables of the caller.
func env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
}

// findBin returns the directory of the newest installed server binaries:
// Debian's /usr/lib/postgresql/<version>/bin, else initdb's directory on
// PATH.
func findBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		slices.SortFunc(matches, func(a, b string) int { return version(a) - version(b) })
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("no /usr/lib/postgresql/*/bin/initdb and no initdb on PATH")
	}
	return filepath.Dir(initdb), nil
}

// version returns the major version in /usr/lib/postgresql/<version>/bin/initdb.
func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// unprivileged returns the credentials to run the server with: nil unless
// we are root, which PostgreSQL refuses to run as.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}, nil
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
