package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
// none; the check's Timeout applies either way.
func HTTPGet(client *http.Client, url string) Check {
	if client == nil {
		client = &http.Client{Timeout: httpGetTimeout}
	}
	return func(ctx context.Context) error {
		return get(ctx, client, url)
	}
}

const (
	drainLimit   = 64 << 10 // read this much of a body so the connection can be reused
	snippetLimit = 256      // keep this much of a failing body in the error
)

// get GETs url and returns nil for a 2xx answer, or an error wrapping
// ErrStatus that gives the status and the start of the body.
func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health: GET %s: %w", url, err)
	}
	resp, err := client.Do(req) // #nosec G704 -- the URL is the caller's own configuration, not request input
	if err != nil {
		return fmt.Errorf("health: %w", err) // url.Error already names the method and URL
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, snippetLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	err = fmt.Errorf("%w: GET %s: %s", ErrStatus, url, resp.Status)
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
		return fmt.Errorf("health: probe %q: %w", url, errNotHTTP)
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
