package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Pinger is anything that checks its connection with PingContext, as
// *sql.DB and *sql.Conn do. A method of another name with the Check
// signature needs no adapter: a pgx pool's is one,
//
//	checker.AddReadiness("postgres", pool.Ping) // *pgxpool.Pool
type Pinger interface {
	PingContext(ctx context.Context) error
}

// PingContext returns a check that pings p, for example a *sql.DB.
func PingContext(p Pinger) Check {
	if p == nil {
		return failWith(ErrInvalidCheck, "nil Pinger")
	}
	return p.PingContext
}

// Dial returns a check that opens a connection to addr on network ("tcp",
// "tcp4", "unix", …; see net.Dial) and closes it at once.
func Dial(network, addr string) Check {
	return func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// httpGetTimeout backs up the check's own deadline when HTTPGet is given no
// client.
const httpGetTimeout = 30 * time.Second

// HTTPGet returns a check that GETs url with client and passes on a 2xx
// answer; the body is read (up to 64 KiB) and closed so the connection is
// reused. A nil client means a client of this package's own with a 30s
// timeout on http.DefaultTransport, never http.DefaultClient, which has
// none; the check's Timeout applies either way. Its errors show the URL
// without user-info or query, which can hold credentials.
//
// Give it a client without tracing.Transport (nil will do): checks run in
// the background, where no span is current, so a traced client starts a
// new one-span root trace at every Interval, a flood of traces nobody
// reads. The client of the service's own calls is the wrong one here.
func HTTPGet(client *http.Client, rawURL string) Check {
	if client == nil {
		client = &http.Client{Timeout: httpGetTimeout}
	}
	if _, err := url.Parse(rawURL); err != nil {
		return failWith(ErrInvalidCheck, "HTTPGet: "+parseError(rawURL, err))
	}
	return func(ctx context.Context) error {
		return get(ctx, client, rawURL)
	}
}

// shownURL is raw as an error shows it: scheme, host and path, without
// user-info (a username can be a token as well as a password can) and
// without the query, whose values can be keys.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "(invalid URL)"
	case u.User == nil && strings.Contains(raw, "@"):
		// A password with a "/" pushes the user-info into the path.
		return u.Scheme + "://(not shown)"
	}
	shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := shown.String()
	if u.User != nil {
		s = strings.Replace(s, "//", "//***@", 1)
	}
	if u.RawQuery != "" || u.ForceQuery {
		s += "?***"
	}
	return s
}

// parseError says why raw is not a URL without quoting it: url's own
// error quotes the whole of it, and its reason can quote a piece (a port
// that is really part of a password).
func parseError(raw string, err error) string {
	var ue *url.Error
	if strings.Contains(raw, "@") || !errors.As(err, &ue) {
		return "invalid URL"
	}
	return "invalid URL: " + ue.Err.Error()
}

const (
	drainLimit   = 64 << 10 // read this much of a body so the connection can be reused
	snippetLimit = 256      // keep this much of a failing body in the error
)

// get GETs url and returns nil for a 2xx answer, or an error wrapping
// ErrStatus that gives the status and the start of the body.
func get(ctx context.Context, client *http.Client, rawURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("health: GET: %s", parseError(rawURL, err))
	}
	resp, err := client.Do(req) // #nosec G704 -- the URL is the caller's own configuration, not request input
	if err != nil {
		// url.Error names the method and the URL (after redirects), with
		// only the password masked.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = &url.Error{Op: ue.Op, URL: shownURL(ue.URL), Err: ue.Err}
		}
		return fmt.Errorf("health: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, snippetLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	err = fmt.Errorf("%w: GET %s: %s", ErrStatus, shownURL(rawURL), resp.Status)
	if s := printable(head); s != "" {
		err = fmt.Errorf("%w: %s", err, s)
	}
	return err
}

// printable keeps the printable part of a body snippet for an error text.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return -1
		}
		return r
	}, string(b))
	return strings.TrimSpace(s)
}

// probeTimeout bounds Probe when its context has no deadline.
const probeTimeout = 5 * time.Second

// Probe GETs url and returns nil for a 2xx answer and otherwise an error
// that gives the status code (wrapping ErrStatus) and the start of the
// body. It is meant for a "healthcheck" subcommand, so that an image with
// no shell or curl can still have a HEALTHCHECK:
//
//	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
//		if err := health.Probe(ctx, "http://127.0.0.1:9090/readyz"); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		os.Exit(0)
//	}
//
// It uses a client of its own: no proxy (HTTP_PROXY in the environment
// must not route a probe of localhost elsewhere), no redirects followed,
// no connection kept, and a 5s deadline unless ctx has one.
func Probe(ctx context.Context, url string) error {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return fmt.Errorf("health: probe %s: %w", shownURL(url), errNotHTTP)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, probeTimeout)
		defer cancel()
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return get(ctx, client, url)
}

var errNotHTTP = errors.New("health: URL must start with http:// or https://")
