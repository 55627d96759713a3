package prodready_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/secrets"
	"github.com/prodready/prodready/shutdown"
	"github.com/prodready/prodready/tracing"
)

// credential is a known secret: a password, an API key, a token. Each test
// below puts it wherever a value of its kind can reach one of the six
// packages (a secret file, a URL's user-info or query, a request header, an
// OTEL_* variable, an error a hook or check returns) and makes that path
// fail or log, then searches every error and every log line for it.
//
// The packages' own tests go further on their parsers:
// tracing.TestSetupErrorsHideCredentials (every OTEL_* variable),
// health.TestHTTPGetHidesCredentials (every way a check URL fails),
// secrets.TestRedactionMatrix (every printer and encoder of a Secret).
const credential = "s3cr3t-Cr3d3nt1al"

// noCredential fails the test when text shows the credential, or a piece
// of it long enough to matter.
func noCredential(t *testing.T, where, text string) {
	t.Helper()
	for _, piece := range []string{credential, credential[:7], credential[len(credential)-7:]} {
		if strings.Contains(text, piece) {
			t.Errorf("%s shows %q:\n%s", where, piece, text)
		}
	}
}

// jsonLog is an slog logger writing JSON lines into a buffer.
func jsonLog() (*slog.Logger, *testenv.LogBuffer) {
	out := new(testenv.LogBuffer)
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})), out
}

// secretValue is a secrets.Secret holding the credential, as a service
// gets one.
func secretValue(t *testing.T) secrets.Secret {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte(credential), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := secrets.Watch(t.Context(), path, secrets.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f.Value()
}

// wrongVerb prints a holder with %s, a verb that does not fit its fields:
// fmt then shows what a pointer field points to. (A variable, as formats
// built at run time are, so vet does not refuse the test.)
var wrongVerb = "cannot use %v (%s)"

// holder keeps a secret where fmt cannot call its methods.
type holder struct {
	user string
	pw   secrets.Secret
}

func TestNoCredentialInSecrets(t *testing.T) {
	log, out := jsonLog()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	failures := []struct {
		name string
		path string
		opts []secrets.Option
	}{
		{"too large", write("large", credential+strings.Repeat("x", 100)), []secrets.Option{secrets.MaxSize(64)}},
		{"rejected", write("rejected", credential), []secrets.Option{secrets.Validate(func([]byte) error { return errors.New("not a token") })}},
		{"validator panics", write("panics", credential), []secrets.Option{secrets.Validate(func(b []byte) error { _ = b[len(b)+1]; return nil })}},
		{"a directory", dir, nil},
	}
	for _, f := range failures {
		opts := append([]secrets.Option{secrets.Logger(log), secrets.PollInterval(0)}, f.opts...)
		_, err := secrets.Watch(t.Context(), f.path, opts...)
		if err == nil {
			t.Fatalf("%s: Watch succeeded", f.name)
		}
		noCredential(t, "Watch error ("+f.name+")", err.Error())
	}

	// A good file turned bad: the reload failure is logged and shows in
	// Check; a subscriber that panics with the value is logged.
	path := write("rotating", "first-"+credential)
	f, err := secrets.Watch(t.Context(), path, secrets.Logger(log), secrets.MaxSize(64),
		secrets.Debounce(time.Millisecond), secrets.PollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Subscribe(func(s secrets.Secret) { panic(fmt.Errorf(wrongVerb, s, holder{"app", s})) })
	write("rotating", "second-"+credential)
	out.WaitLine(t, "secret reloaded", 10*time.Second)
	out.WaitLine(t, "secret subscriber panicked", 10*time.Second)
	write("rotating", credential+strings.Repeat("y", 100))
	out.WaitLine(t, "secret reload failed", 10*time.Second)
	noCredential(t, "Check", fmt.Sprint(f.Check(t.Context())))

	// A key file that is not a key.
	cert := write("tls.crt", "-----BEGIN CERTIFICATE-----\n"+credential+"\n-----END CERTIFICATE-----\n")
	key := write("tls.key", "-----BEGIN PRIVATE KEY-----\n"+credential+"\n-----END PRIVATE KEY-----\n")
	if _, err := secrets.NewCertificate(t.Context(), cert, key, secrets.Logger(log)); err == nil {
		t.Fatal("NewCertificate accepted garbage")
	} else {
		noCredential(t, "NewCertificate error", err.Error())
	}
	noCredential(t, "the secrets log", out.String())
}

func TestNoCredentialInLogging(t *testing.T) {
	out := new(testenv.LogBuffer)
	logger, _, err := logging.New(logging.Config{Output: out, Level: "debug"})
	if err != nil {
		t.Fatal(err)
	}
	s := secretValue(t)
	down := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer down.Close()
	client := &http.Client{Transport: logging.Transport(nil)}
	defer client.CloseIdleConnections()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		logging.Slog(logging.FromContext(r.Context())).Info("calling", "pw", s, "cfg", holder{"app", s})
		logging.FromContext(r.Context()).Info("calling", zap.Any("pw", s), zap.Any("cfg", holder{"app", s}))
		target := strings.Replace(down.URL, "http://", "http://user:"+credential+"@", 1) + "/x?key=" + credential
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
		}
		http.Error(w, "failed", http.StatusBadGateway) // an error-level access line
	})
	srv := httptest.NewServer(logging.Middleware(logger)(mux))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/orders?token="+credential, nil)
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"} {
		req.Header.Set(h, "Bearer "+credential)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	out.WaitLine(t, `"status":502`, 10*time.Second)
	noCredential(t, "the log", out.String())
}

func TestNoCredentialInMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	mw, err := metrics.Middleware(reg)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := metrics.Transport(nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	down := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer down.Close()
	client := &http.Client{Transport: rt}
	defer client.CloseIdleConnections()
	target := strings.Replace(down.URL, "http://", "http://user:"+credential+"@", 1) + "/x?key=" + credential
	resp, err := client.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	srv := httptest.NewServer(mw(http.NewServeMux()))
	defer srv.Close()
	resp, err = srv.Client().Get(srv.URL + "/reset/" + credential + "?token=" + credential)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()

	scrape := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(scrape, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(scrape.Body.String(), "http_client_") {
		t.Fatalf("no client series scraped:\n%s", scrape.Body.String())
	}
	noCredential(t, "the scrape", scrape.Body.String())
}

func TestNoCredentialInShutdown(t *testing.T) {
	log, out := jsonLog()
	s := secretValue(t)
	sd := shutdown.New(shutdown.Logger(log), shutdown.DrainDelay(0), shutdown.Timeout(5*time.Second), shutdown.ExitOnSecondSignal(false))
	sd.Add("postgres", func(context.Context) error { return fmt.Errorf("close with %v: %w", s, errors.New("refused")) })
	sd.Add("cache", func(context.Context) error { panic(holder{"app", s}) })
	sd.Trigger(errors.New("test"))
	err := sd.Wait()
	if err == nil {
		t.Fatal("Wait = nil, want the hooks' failures")
	}
	noCredential(t, "Wait's error", err.Error())
	noCredential(t, "the shutdown log", out.String())
}

func TestNoCredentialInHealth(t *testing.T) {
	log, out := jsonLog()
	s := secretValue(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	checks := health.New(health.Logger(log), health.ShowReasons(true))
	checks.AddReadiness("catalog", health.HTTPGet(nil, strings.Replace(down.URL, "http://", "http://"+credential+"@", 1)+"/readyz?key="+credential))
	checks.AddReadiness("postgres", func(context.Context) error { return fmt.Errorf("ping as %+v: refused", holder{"app", s}) })
	checks.AddReadiness("broken URL", health.HTTPGet(nil, "http://user:"+credential[:5]+"/"+credential[5:]+"@db:5432"))
	rec := httptest.NewRecorder()
	checks.Handler(health.Readiness).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("readiness %d, want 503", rec.Code)
	}
	noCredential(t, "the readiness body (reasons shown)", rec.Body.String())
	noCredential(t, "the health log", out.String())
}

func TestNoCredentialInTracing(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_TRACES_SAMPLER", "OTEL_PROPAGATORS"} {
		t.Setenv(k, "")
		_ = os.Unsetenv(k)
	}
	// An invalid header: the error.
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization: Bearer "+credential)
	if _, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true}); err == nil {
		t.Fatal("Setup accepted an invalid header")
	} else {
		noCredential(t, "Setup's error", err.Error())
	}

	// A valid one the collector refuses: the export failure.
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20"+credential)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "1")
	log, out := jsonLog()
	p, err := tracing.Setup(t.Context(), tracing.Config{NoGlobal: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("t").Start(t.Context(), "op")
	span.End()
	out.WaitLine(t, "trace export failed", 10*time.Second)
	err = p.Shutdown(t.Context())
	noCredential(t, "Shutdown's error", fmt.Sprint(err))
	noCredential(t, "the tracing log", out.String())
}
