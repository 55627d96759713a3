//go:build unix

package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prodready/prodready/internal/testenv"
)

func TestUnsafeFilesAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, defaultMaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "max"), []byte(strings.Repeat("x", defaultMaxSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"dangling": "nowhere", "loop": "loop", "null": "/dev/null"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		file string
		want error // nil: loads
	}{
		{name: "1 MiB + 1", file: "big", want: ErrTooLarge},
		{name: "exactly 1 MiB", file: "max"},
		{name: "FIFO with no writer", file: "fifo", want: ErrNotRegular},
		{name: "directory", file: ".", want: ErrNotRegular},
		{name: "character device", file: "null", want: ErrNotRegular},
		{name: "dangling symlink", file: "dangling", want: fs.ErrNotExist},
		{name: "symlink loop", file: "loop", want: syscall.ELOOP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Watch(t.Context(), filepath.Join(dir, tt.file), fastEvents...)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				_ = f.Close()
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Watch = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnsafeFileSwappedIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		make func(path string) error
		want error
	}{
		{name: "FIFO", make: func(p string) error { return syscall.Mkfifo(p, 0o600) }, want: ErrNotRegular},
		{name: "1 MiB + 1", make: func(p string) error { return os.WriteFile(p, make([]byte, defaultMaxSize+1), 0o600) }, want: ErrTooLarge},
		{name: "symlink loop", make: func(p string) error { return os.Symlink("secret", p) }, want: syscall.ELOOP}, // secret → secret once renamed
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "secret")
			writeFile(t, path, "good")
			f := mustWatch(t, path, fastEvents...)
			tmp := filepath.Join(dir, "swap")
			if err := tt.make(tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the failed reload", func() bool { return f.Stats().Errors > 0 })
			if err := f.Check(t.Context()); !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if got := f.Value().Reveal(); got != "good" {
				t.Fatalf("Value = %q, want the last good value", got)
			}
			writeFile(t, path, "good again")
			waitValue(t, f, "good again")
		})
	}
}

const nobody = 65534

// TestChmod000NonRoot: a file its reader may no longer read keeps the last
// good value.
func TestChmod000NonRoot(t *testing.T) { asNobody(t, chmodScenario) }

// asNobody runs scenario, which needs permission bits to bite, as a user
// they apply to. Root reads through them (CAP_DAC_OVERRIDE), and the tests
// run as root here and in CI, so as root the scenario runs in a copy of
// this test binary started as nobody (syscall.Credential), in a work
// directory nobody owns; otherwise it runs here. Only for top-level tests:
// the child selects the test by its name.
func asNobody(t *testing.T, scenario func(t *testing.T, dir string)) {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		scenario(t, os.Getenv("SECRETS_TEST_DIR"))
		t.Logf("scenario passed as uid %d", os.Geteuid())
		return
	}
	if os.Geteuid() != 0 {
		scenario(t, t.TempDir())
		return
	}
	base, err := os.MkdirTemp("", "secrets-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(base) }()
	// #nosec G302 -- nobody must reach the binary and its work directory.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "secrets.test")
	if err := copyExecutable(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(base, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(work, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	// #nosec G204 -- re-executing this test binary.
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), "SECRETS_TEST_DIR="+work)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, fs.ErrPermission) {
		testenv.Missing(t, "running a process as another user", "needs CAP_SETUID and an exec-able temp dir: "+err.Error())
	}
	if err != nil {
		t.Fatalf("child as uid %d: %v\n%s", nobody, err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("scenario passed as uid %d", nobody)) {
		t.Fatalf("the child did not run the scenario:\n%s", out)
	}
}

func chmodScenario(t *testing.T, dir string) {
	path := filepath.Join(dir, "secret")
	writeFile(t, path, "v0")
	f := mustWatch(t, path, fastEvents...)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed reload", func() bool { return f.Stats().Errors > 0 })
	if err := f.Check(t.Context()); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Check = %v, want permission denied", err)
	}
	if got := f.Value().Reveal(); got != "v0" {
		t.Fatalf("Value = %q, want the last good v0", got)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recovery", func() bool { return f.Check(t.Context()) == nil })
	writeFile(t, path, "v1")
	waitValue(t, f, "v1")
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src) // #nosec G304 -- this test binary
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	// #nosec G302 G304 -- an executable for the child process.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
