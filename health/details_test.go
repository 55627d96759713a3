package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestDetails: the checks that ran, by kind then name, each with its
// error; a check that has not run yet is left out, and reading runs none.
func TestDetails(t *testing.T) {
	c := New(Logger(slog.New(slog.DiscardHandler)))
	var runs atomic.Int32
	c.AddReadiness("b-db", func(context.Context) error { runs.Add(1); return errors.New("refused") })
	c.AddReadiness("a-cache", func(context.Context) error { runs.Add(1); return nil })
	c.AddLiveness("z-loop", func(context.Context) error { runs.Add(1); return nil })
	c.AddStartup("never", func(context.Context) error { runs.Add(1); return nil })
	for _, kind := range []Kind{Readiness, Liveness} {
		c.Handler(kind).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	ran := runs.Load()

	w := httptest.NewRecorder()
	c.Details().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/health", nil))
	if n := runs.Load(); n != ran {
		t.Errorf("reading the details ran %d checks", n-ran)
	}
	if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
		t.Errorf("headers: %q, %q", ct, cc)
	}
	var body struct {
		Checks []struct{ Name, Kind, Status, Error, Duration string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range body.Checks {
		got = append(got, d.Kind+"/"+d.Name+"="+d.Status+":"+d.Error)
		if d.Duration == "" {
			t.Errorf("%s has no duration", d.Name)
		}
	}
	want := []string{"liveness/z-loop=pass:", "readiness/a-cache=pass:", "readiness/b-db=fail:refused"}
	if len(got) != len(want) {
		t.Fatalf("details %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("details %v, want %v", got, want)
			break
		}
	}
}
