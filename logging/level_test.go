package logging_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
)

// send makes one request to the level handler at url and returns the
// status and body.
func send(t *testing.T, method, url, contentType, body string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const form = "application/x-www-form-urlencoded" // what curl -d sends

// TestLevelHandler: through a real server, every way a level is asked
// for, and what is refused; the level after each request is what the
// answer says.
func TestLevelHandler(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		wantStatus  int
		wantLevel   string // the level afterwards
		wantBody    string
	}{
		{"GET", http.MethodGet, "", "", http.StatusOK, "info", `{"level":"info"}`},
		{"JSON as JSON", http.MethodPut, "application/json", `{"level":"debug"}`, http.StatusOK, "debug", `{"level":"debug"}`},
		{"JSON as a form, as curl -d sends it", http.MethodPut, form, `{"level":"debug"}`, http.StatusOK, "debug", `{"level":"debug"}`},
		{"JSON with no Content-Type", http.MethodPut, "", ` {"level":"warn"} `, http.StatusOK, "warn", `{"level":"warn"}`},
		{"form", http.MethodPut, form, "level=error", http.StatusOK, "error", `{"level":"error"}`},
		{"capitals", http.MethodPut, "application/json", `{"level":"DEBUG"}`, http.StatusOK, "debug", `{"level":"debug"}`},
		{"dpanic refused", http.MethodPut, "application/json", `{"level":"dpanic"}`, http.StatusBadRequest, "info", "silence every error line"},
		{"panic refused", http.MethodPut, form, "level=panic", http.StatusBadRequest, "info", "silence every error line"},
		{"fatal refused", http.MethodPut, form, `{"level":"fatal"}`, http.StatusBadRequest, "info", "silence every error line"},
		{"unknown level", http.MethodPut, "application/json", `{"level":"verbose"}`, http.StatusBadRequest, "info", `unknown level \"verbose\"`},
		{"no level", http.MethodPut, "application/json", `{"lvl":"debug"}`, http.StatusBadRequest, "info", "want"},
		{"empty body", http.MethodPut, "", "", http.StatusBadRequest, "info", "want"},
		{"malformed JSON", http.MethodPut, "application/json", `{"level":`, http.StatusBadRequest, "info", "want"},
		{"oversize body", http.MethodPut, "application/json", `{"level":"` + strings.Repeat("d", 4<<10) + `"}`, http.StatusBadRequest, "info", "too large"},
		{"POST", http.MethodPost, "application/json", `{"level":"debug"}`, http.StatusMethodNotAllowed, "info", "only GET and PUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, lvl, _ := newLogger(t, logging.Config{Level: "info"})
			srv := httptest.NewServer(logging.LevelHandler(l, lvl))
			defer srv.Close()
			code, body := send(t, tt.method, srv.URL, tt.contentType, tt.body, nil)
			if code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("%s: %d %s, want %d with %s", tt.name, code, body, tt.wantStatus, tt.wantBody)
			}
			if got := lvl.Level().String(); got != tt.wantLevel {
				t.Errorf("level %s afterwards, want %s", got, tt.wantLevel)
			}
		})
	}
}

// TestLevelHandlerLogsChanges: every accepted change is one warn line with
// the old and the new level and who asked, visible whether the level goes
// up or down; refused ones change nothing and log nothing.
func TestLevelHandlerLogsChanges(t *testing.T) {
	l, lvl, out := newLogger(t, logging.Config{Level: "info"})
	srv := httptest.NewServer(logging.LevelHandler(l, lvl))
	defer srv.Close()
	steps := []struct {
		level string
		token bool
	}{{"error", true}, {"debug", false}, {"fatal", true}, {"warn", true}}
	for _, s := range steps {
		h := http.Header{}
		if s.token {
			h.Set("Authorization", "Bearer whatever")
		}
		send(t, http.MethodPut, srv.URL, form, `{"level":"`+s.level+`"}`, h)
	}
	lines := out.JSON(t)
	want := []struct {
		old, new string
		token    bool
	}{{"info", "error", true}, {"error", "debug", false}, {"debug", "warn", true}}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d: %v", len(lines), len(want), lines)
	}
	for i, w := range want {
		line := lines[i]
		remote, _ := line["remote"].(string)
		if line["msg"] != "log level set" || line["level"] != "warn" || line["old"] != w.old || line["new"] != w.new ||
			line["token"] != w.token || !strings.HasPrefix(remote, "127.0.0.1:") {
			t.Errorf("line %d = %v, want %s -> %s, token %v, from 127.0.0.1", i, line, w.old, w.new, w.token)
		}
	}
}

// TestLevelHandlerConcurrentChanges: changes racing each other log a chain
// in which each line's old level is the previous line's new one.
func TestLevelHandlerConcurrentChanges(t *testing.T) {
	core, lines := newObserved()
	lvl := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	srv := httptest.NewServer(logging.LevelHandler(zap.New(core), lvl))
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			send(t, http.MethodPut, srv.URL, form, "level="+[]string{"debug", "info", "warn", "error"}[i%4], nil)
		})
	}
	wg.Wait()
	got := lines()
	if len(got) != 20 {
		t.Fatalf("%d lines, want 20", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i]["old"] != got[i-1]["new"] {
			t.Fatalf("line %d old %v, the line before set %v", i, got[i]["old"], got[i-1]["new"])
		}
	}
	if got[len(got)-1]["new"] != lvl.Level().String() {
		t.Errorf("the last line set %v, the level is %s", got[len(got)-1]["new"], lvl.Level())
	}
}

// newObserved is a core that keeps every line's fields whatever the level
// (the level under test is not the logger's), in order.
func newObserved() (zapcore.Core, func() []map[string]any) {
	var mu sync.Mutex
	var got []map[string]any
	core := &mapCore{add: func(m map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
	}}
	return core, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), got...)
	}
}

type mapCore struct {
	add    func(map[string]any)
	fields []zapcore.Field
}

func (c *mapCore) Enabled(zapcore.Level) bool { return true }
func (c *mapCore) With(f []zapcore.Field) zapcore.Core {
	return &mapCore{add: c.add, fields: append(append([]zapcore.Field(nil), c.fields...), f...)}
}
func (c *mapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}
func (c *mapCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fs...) {
		f.AddTo(enc)
	}
	enc.Fields["msg"] = e.Message
	c.add(enc.Fields)
	return nil
}
func (c *mapCore) Sync() error { return nil }

// TestLevelHandlerWithCurl runs the README's command as written: curl -d
// with no Content-Type header.
func TestLevelHandlerWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		testenv.Missing(t, "curl", "apt-get install curl")
	}
	l, lvl, _ := newLogger(t, logging.Config{Level: "info"})
	srv := httptest.NewServer(logging.LevelHandler(l, lvl))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// #nosec G204 -- curl with a fixed command line against the test server.
	out, err := exec.CommandContext(ctx, curl, "-sS", "-X", "PUT", "-d", `{"level":"debug"}`, srv.URL).CombinedOutput()
	if err != nil || lvl.Level() != zapcore.DebugLevel {
		t.Fatalf("curl: %v: %s; level %s, want debug", err, out, lvl.Level())
	}
}
