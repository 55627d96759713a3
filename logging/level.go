package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// maxLevelBody bounds a PUT body: {"level":"debug"} is 17 bytes.
const maxLevelBody = 1 << 10

// LevelHandler serves level over HTTP, for an admin port: GET answers
// {"level":"info"}; PUT sets it from {"level":"debug"} or level=debug,
// whatever the Content-Type (curl -d sends the JSON as a form), and
// answers the new level. Over HTTP only debug, info, warn and error are
// accepted: dpanic, panic and fatal would silence every error line, and
// are refused with 400 like an unknown name.
//
// Every accepted PUT is logged on logger at warn, "log level set", with
// the old and the new level, the caller's remote address and whether it
// presented an Authorization header (the handler does not check it:
// guard it yourself). The line is written under the lower of the two
// levels, so it shows unless both are error. A nil logger means zap.L().
//
// zap.AtomicLevel is an http.Handler too, but it reads a body without a
// JSON Content-Type as a form, so the plain curl -d of its own docs fails,
// it accepts fatal, and it logs nothing.
func LevelHandler(logger *zap.Logger, level zap.AtomicLevel) http.Handler {
	if logger == nil {
		logger = zap.L()
	}
	return &levelHandler{logger: logger, level: level}
}

type levelHandler struct {
	logger *zap.Logger
	level  zap.AtomicLevel
	mu     sync.Mutex // one change at a time, so old and new are what happened
}

type levelBody struct {
	Level string `json:"level"`
}

func (h *levelHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		writeLevelJSON(w, http.StatusOK, levelBody{Level: h.level.Level().String()})
	case http.MethodPut:
		lvl, err := readLevel(w, r)
		if err != nil {
			writeLevelJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		h.set(lvl, r)
		writeLevelJSON(w, http.StatusOK, levelBody{Level: lvl.String()})
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		writeLevelJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "only GET and PUT"})
	}
}

// set changes the level and logs it, raising the level after the line and
// lowering it before, so the line is written under the lower of the two.
func (h *levelHandler) set(lvl zapcore.Level, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.level.Level()
	if lvl < old {
		h.level.SetLevel(lvl)
	}
	h.logger.Warn("log level set",
		zap.String("old", old.String()),
		zap.String("new", lvl.String()),
		zap.String("remote", r.RemoteAddr),
		zap.Bool("token", r.Header.Get("Authorization") != ""))
	h.level.SetLevel(lvl)
}

var errNoLevel = errors.New(`want {"level":"debug"} or level=debug (debug, info, warn or error)`)

// readLevel reads the level a PUT asks for: a JSON object when the body
// starts with "{", a form otherwise.
func readLevel(w http.ResponseWriter, r *http.Request) (zapcore.Level, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLevelBody))
	if err != nil {
		return 0, fmt.Errorf("body: %w", err)
	}
	var name string
	if trimmed := bytes.TrimSpace(body); bytes.HasPrefix(trimmed, []byte("{")) {
		var b levelBody
		if err := json.Unmarshal(trimmed, &b); err != nil {
			return 0, errNoLevel
		}
		name = b.Level
	} else {
		form, err := url.ParseQuery(string(trimmed))
		if err != nil {
			return 0, errNoLevel
		}
		name = form.Get("level")
	}
	if name == "" {
		return 0, errNoLevel
	}
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(name)); err != nil {
		return 0, fmt.Errorf("unknown level %q: %w", cutName(name), errNoLevel)
	}
	if lvl > zapcore.ErrorLevel {
		return 0, fmt.Errorf("level %s would silence every error line: %w", lvl, errNoLevel)
	}
	return lvl, nil
}

// cutName keeps an echoed name short.
func cutName(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

func writeLevelJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
