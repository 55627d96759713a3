package logging_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/logging"
)

// FuzzLevelHandler: whatever a PUT carries, the answer is 200 with the
// level now set, or 400 with the level unchanged, and the level never
// goes above error.
func FuzzLevelHandler(f *testing.F) {
	for _, s := range []string{`{"level":"debug"}`, "level=warn", `{"level":"fatal"}`, "level=panic&level=debug", `{"level":"x"}`, "", "{", "%zz", `{"level":"DPANIC"}`} {
		f.Add(s, "application/json")
		f.Add(s, "application/x-www-form-urlencoded")
	}
	f.Fuzz(func(t *testing.T, body, contentType string) {
		lvl := zap.NewAtomicLevelAt(zapcore.InfoLevel)
		h := logging.LevelHandler(zap.NewNop(), lvl)
		req := httptest.NewRequest(http.MethodPut, "/loglevel", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			if !strings.Contains(w.Body.String(), `"level":"`+lvl.Level().String()+`"`) {
				t.Fatalf("answer %s, level %s", w.Body, lvl.Level())
			}
		case http.StatusBadRequest:
			if lvl.Level() != zapcore.InfoLevel {
				t.Fatalf("refused, yet the level is %s", lvl.Level())
			}
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if lvl.Level() > zapcore.ErrorLevel {
			t.Fatalf("level %s set over HTTP from %q", lvl.Level(), body)
		}
	})
}
