package secrets

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fakeSource stands in for the shared fsnotify hub, so the debounce and
// poll logic runs inside a synctest bubble (fsnotify's reader goroutine
// blocks in a system call, which a bubble cannot wait for). The test says
// when an event happened.
type fakeSource struct {
	mu       sync.Mutex
	hints    []func()
	ensured  int
	released int
}

func (s *fakeSource) source(hint func()) notifier {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hints = append(s.hints, hint)
	return fakeNotifier{s}
}

// event delivers a hint to every watch, as a directory event would.
func (s *fakeSource) event() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hints {
		h()
	}
}

type fakeNotifier struct{ s *fakeSource }

func (n fakeNotifier) ensure([]string) error {
	n.s.mu.Lock()
	n.s.ensured++
	n.s.mu.Unlock()
	return nil
}

func (n fakeNotifier) release() {
	n.s.mu.Lock()
	n.s.released++
	n.s.mu.Unlock()
}

func withSource(src notifySource) Option {
	return optionFunc(func(c *config) { c.source = src })
}

// writeFile replaces path's content in one rename, as Vault Agent does.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
