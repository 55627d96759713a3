//go:build unix

package pgtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQuote(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "orders", "orders"},
		{"empty", "", "''"},
		{"space", "a b", "'a b'"},
		{"quote", "it's", `'it\'s'`},
		{"backslash", `a\b`, `'a\\b'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quote(tt.in); got != tt.want {
				t.Errorf("quote(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestDSN(t *testing.T) {
	s := &Server{port: 5999}
	tests := []struct {
		name, db, user, password, want string
	}{
		{"with password", "app", "app", "s3cret",
			"host=127.0.0.1 port=5999 dbname=app user=app password=s3cret sslmode=disable"},
		{"without password", "app", "app", "",
			"host=127.0.0.1 port=5999 dbname=app user=app sslmode=disable"},
		{"quoted password", "app", "app", "a 'b'",
			`host=127.0.0.1 port=5999 dbname=app user=app password='a \'b\'' sslmode=disable`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.DSN(tt.db, tt.user, tt.password); got != tt.want {
				t.Errorf("DSN = %s\nwant %s", got, tt.want)
			}
		})
	}
}

// connect runs psql over TCP with dsn, the way an application connects
// (password authentication, no socket), and returns its error.
func connect(s *Server, dsn string) error {
	// #nosec G204 -- test code running the installed psql.
	cmd := exec.Command(filepath.Join(s.bin, "psql"), "--no-psqlrc", "--tuples-only",
		"--command=SELECT 1", dsn)
	cmd.Env = append(env(), "PGCONNECT_TIMEOUT=5")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, stderr.String())
	}
	return nil
}

func TestServer(t *testing.T) {
	s := Start(t)
	s.Exec(t, `
		CREATE ROLE app LOGIN PASSWORD 'app-pw';
		CREATE DATABASE app OWNER app;
		CREATE TABLE kept (v int);
		INSERT INTO kept VALUES (42);`)

	t.Run("password authentication over TCP", func(t *testing.T) {
		tests := []struct {
			name     string
			password string
			ok       bool
		}{
			{"right password", "app-pw", true},
			{"wrong password", "nope", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := connect(s, s.DSN("app", "app", tt.password))
				if (err == nil) != tt.ok {
					t.Fatalf("connect with %q: err = %v, want ok = %v", tt.password, err, tt.ok)
				}
			})
		}
	})

	t.Run("superuser password", func(t *testing.T) {
		if err := connect(s, s.DSN("postgres", SuperUser, SuperPassword)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("query", func(t *testing.T) {
		if got := s.Query(t, "SELECT v FROM kept; SELECT 'a', 'b'"); got != "42\na|b" {
			t.Fatalf("Query = %q, want %q", got, "42\na|b")
		}
	})

	t.Run("stop refuses connections, start keeps data and port", func(t *testing.T) {
		port := s.Port()
		s.Stop(t)
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
			c.Close()
			t.Fatal("port still accepts connections after Stop")
		}
		s.Stop(t) // a second stop does nothing
		s.Start(t)
		if s.Port() != port {
			t.Fatalf("port changed from %d to %d", port, s.Port())
		}
		if got := s.Query(t, "SELECT v FROM kept"); got != "42" {
			t.Fatalf("after restart: %q, want 42", got)
		}
	})

	t.Run("freeze leaves clients unanswered, thaw resumes", func(t *testing.T) {
		// A session open before the freeze: its backend is frozen too.
		// #nosec G204 -- test code running the installed psql.
		psql := exec.Command(filepath.Join(s.bin, "psql"), "--no-psqlrc", "--tuples-only", "--no-align", s.DSN("app", "app", "app-pw"))
		psql.Env = env()
		in, err := psql.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := psql.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := psql.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = in.Close(); _ = psql.Wait() }()
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		query := func(q string) {
			if _, err := io.WriteString(in, q+";\n"); err != nil {
				t.Fatal(err)
			}
		}
		query("SELECT 1")
		if l := <-lines; l != "1" {
			t.Fatalf("before the freeze: %q", l)
		}

		s.Freeze(t)
		query("SELECT 2")
		connected := make(chan error, 1)
		go func() { connected <- connect(s, s.DSN("app", "app", "app-pw")) }()
		select {
		case l := <-lines:
			s.Thaw(t)
			t.Fatalf("the open session answered %q while frozen", l)
		case err := <-connected:
			s.Thaw(t)
			t.Fatalf("a new connection was answered while frozen: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		s.Thaw(t)
		if l := <-lines; l != "2" {
			t.Fatalf("the open session after the thaw: %q, want 2", l)
		}
		if err := <-connected; err != nil { // served once thawed
			t.Fatalf("the new connection after the thaw: %v", err)
		}
		s.Freeze(t) // stopped while frozen: Stop resumes it first
		s.Stop(t)
		s.Start(t)
	})

	t.Run("kill then start recovers", func(t *testing.T) {
		s.Exec(t, "INSERT INTO kept VALUES (43)")
		s.Kill(t)
		s.Start(t)
		if got := s.Query(t, "SELECT count(*) FROM kept"); got != "2" {
			t.Fatalf("after crash recovery: %q rows, want 2", got)
		}
	})
}

func TestCleanupRemovesEverything(t *testing.T) {
	var dir string
	var pid int
	t.Run("server", func(t *testing.T) {
		s := Start(t)
		dir = s.dir
		pid = s.proc.cmd.Process.Pid
	})
	if dir == "" {
		t.Skip("no server was started")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still exists after cleanup (err %v)", dir, err)
	}
	// The postmaster was waited for, so its pid is gone (reuse within
	// these milliseconds is not a worry).
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("postgres pid %d: kill(0) = %v, want ESRCH: still running after cleanup", pid, err)
	}
}

func TestExecReportsErrors(t *testing.T) {
	s := Start(t)
	if _, err := s.psql("SELECT * FROM no_such_table"); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("psql error = %v, want one naming no_such_table", err)
	}
}
