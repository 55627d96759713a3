//go:build linux

package hardening_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestFlood: 20,000 requests with random methods, paths and header
// values, some malformed, from 8 connections against catalog. Every answer
// is a valid HTTP response and none is a server error; catalog's memory
// stays bounded, so do its metrics series (routes and methods folded), and
// nothing reaches its log at error level. The requests are random but
// seeded: a failure names the seed that reproduces it.
func TestFlood(t *testing.T) {
	const (
		requests = 20000
		workers  = 8
		// Bounds of catalog (built without the race detector) under the
		// flood. It starts at about 19 MiB and grows by about 6 MiB (the
		// heap's high-water mark under 8 connections): a leak of even 1 KiB
		// a request would pass the growth bound.
		maxRSS    = 64 << 20
		maxGrowth = 16 << 20
		// Folding keeps http_requests_total at methods × routes × codes,
		// whatever the paths: measured at about 40; the bound leaves room
		// for new codes and catches raw paths or methods at once. All
		// series, histogram buckets included: about 1,300.
		maxRequestSeries = 200
		maxSeries        = 3000
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	c := startCatalog(t, bin.plain.Catalog)
	host := c.url[len("http://"):]

	// Warm up, so the baseline includes what every process has after its
	// first requests (pools, the metric families, the TLS-less transport).
	for i := range 200 {
		if code, _, err := getPath(c, fmt.Sprintf("/products/p%d", i%8)); err != nil || code >= 500 {
			t.Fatalf("warm-up: %d %v", code, err)
		}
	}
	_, before := scrape(t, c.client, c.admin+"/metrics")
	baseline := rss(t, c.proc.PID())

	var peak atomic.Int64
	peak.Store(baseline)
	sampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-tick.C:
				if r := rss(t, c.proc.PID()); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	})

	var (
		next     atomic.Int64
		mu       sync.Mutex
		statuses = map[int]int{}
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range uint64(workers) {
		wg.Go(func() {
			// #nosec G404 -- seeded on purpose: a failing run is replayed from its seed.
			rng := rand.New(rand.NewPCG(seed, w))
			var conn net.Conn
			var br *bufio.Reader
			defer func() {
				if conn != nil {
					_ = conn.Close()
				}
			}()
			for next.Add(1) <= requests {
				if conn == nil {
					var err error
					if conn, err = net.Dial("tcp", host); err != nil {
						fail("dial: %v", err)
						return
					}
					br = bufio.NewReader(conn)
				}
				req := randomRequest(rng)
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				_, werr := conn.Write(req.raw)
				resp, err := http.ReadResponse(br, &http.Request{Method: req.method})
				if err != nil {
					fail("%s: no valid HTTP response: %v (write: %v)", req, err, werr)
					_ = conn.Close()
					conn = nil
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				switch {
				case err != nil && !errors.Is(err, syscall.ECONNRESET):
					fail("%s: reading the body of a %d: %v", req, resp.StatusCode, err)
				case resp.StatusCode < 100 || resp.StatusCode > 599 || resp.ProtoMajor != 1:
					fail("%s: answer %s %d", req, resp.Proto, resp.StatusCode)
				case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
					// 501 is net/http refusing a Transfer-Encoding it does
					// not know: an answer to bad input, not a failure.
					fail("%s: server error %d", req, resp.StatusCode)
				}
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
				if resp.Close || werr != nil || err != nil {
					_ = conn.Close()
					conn = nil
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(sampling)
	sampler.Wait()
	after := rss(t, c.proc.PID())

	t.Logf("%d requests in %v (%.0f/s); statuses %v", requests, took, requests/took.Seconds(), statuses)
	t.Logf("RSS: %s before, %s peak, %s after", mib(baseline), mib(peak.Load()), mib(after))
	for _, f := range failures {
		t.Error(f)
	}
	if p := peak.Load(); p > maxRSS || p-baseline > maxGrowth {
		t.Errorf("RSS peaked at %s from %s: want at most %s, and at most %s more", mib(p), mib(baseline), mib(maxRSS), mib(maxGrowth))
	}

	// The metrics: bounded labels, bounded series.
	_, series := scrape(t, c.client, c.admin+"/metrics")
	routes, methods, requestSeries := map[string]bool{}, map[string]bool{}, 0
	for s := range series {
		if !strings.HasPrefix(s, "http_requests_total{") {
			continue
		}
		requestSeries++
		routes[label(s, "route")] = true
		methods[label(s, "method")] = true
	}
	t.Logf("metrics series: %d before the flood, %d after; http_requests_total: %d series, routes %v, methods %v",
		len(before), len(series), requestSeries, slices.Sorted(mapsKeys(routes)), slices.Sorted(mapsKeys(methods)))
	for r := range routes {
		if !slices.Contains([]string{"/products", "/products/{id}", "/work", "unmatched"}, r) {
			t.Errorf("route label %q: a raw path reached the metrics", r)
		}
	}
	for m := range methods {
		if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "OTHER"}, m) {
			t.Errorf("method label %q: a non-standard method was not folded", m)
		}
	}
	if requestSeries > maxRequestSeries || len(series) > maxSeries {
		t.Errorf("%d http_requests_total series, %d in all; want at most %d and %d", requestSeries, len(series), maxRequestSeries, maxSeries)
	}

	if lines := errorLines(c.proc); len(lines) > 0 {
		t.Errorf("%d error lines in catalog's log; first: %v", len(lines), lines[0])
	}
	if code, body, err := getPath(c, "/products/p1"); err != nil || code != http.StatusOK {
		t.Fatalf("after the flood: %d %s %v", code, body, err)
	}
}

// getPath GETs a path of catalog's traffic port.
func getPath(c *catalog, path string) (int, []byte, error) {
	code, body, err := doGet(c.client, c.url+path)
	return code, body, err
}

func doGet(c *http.Client, url string) (int, []byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// labelValue finds one label's value in a series name.
var labelValue = map[string]*regexp.Regexp{
	"route":  regexp.MustCompile(`[{,]route="([^"]*)"`),
	"method": regexp.MustCompile(`[{,]method="([^"]*)"`),
}

func label(series, name string) string {
	if m := labelValue[name].FindStringSubmatch(series); m != nil {
		return m[1]
	}
	return ""
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// floodRequest is one raw request of the flood.
type floodRequest struct {
	method, target string
	raw            []byte
}

func (r floodRequest) String() string {
	target := r.target
	if len(target) > 80 {
		target = target[:80] + "…"
	}
	return fmt.Sprintf("%q %q (%d bytes)", r.method, target, len(r.raw))
}

var (
	methods = []string{"GET", "GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "BREW", "get", "M-SEARCH"}
	known   = []string{"/products", "/products/p1", "/products/p6", "/products/nope", "/work?duration=0s", "/work?duration=1ms", "/work?duration=-1s", "/work?duration=1h", "/work?duration=abc", "/work", "/", "/products/", "/products/p1/extra", "/%2e%2e/etc/passwd", "/products/%00", "/products/%ff%fe", "/products/{id}", "//products", "/products/../work"}
	// segment bytes: printable ASCII a path may carry raw, and escapes.
	pathBytes = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@"
	escapes   = []string{"%00", "%20", "%2F", "%25", "%ff", "%C3%A9", "%E2%80%AE", "%0a", "%2e%2e"}
)

// randomRequest makes a request line and headers: most well-formed but
// odd (unknown methods, unknown and strange paths, escapes, non-ASCII
// bytes in header values, invalid correlation IDs and traceparents,
// bodies), so that they go through the whole middleware stack; one in
// ten malformed (an invalid escape, a control character in a header
// value, headers beyond the limit), for net/http to refuse.
func randomRequest(rng *rand.Rand) floodRequest {
	malformed := rng.IntN(10) == 0
	method := methods[rng.IntN(len(methods))]
	if rng.IntN(20) == 0 {
		method = randomString(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-!", 1+rng.IntN(24))
	}
	var target string
	switch rng.IntN(3) {
	case 0:
		target = known[rng.IntN(len(known))]
	default:
		var b strings.Builder
		for range 1 + rng.IntN(4) {
			b.WriteByte('/')
			for range rng.IntN(24) {
				if rng.IntN(8) == 0 {
					b.WriteString(escapes[rng.IntN(len(escapes))])
				} else {
					b.WriteByte(pathBytes[rng.IntN(len(pathBytes))])
				}
			}
		}
		if rng.IntN(50) == 0 {
			b.WriteString(strings.Repeat("x", 4000+rng.IntN(4000)))
		}
		if rng.IntN(4) == 0 {
			b.WriteString("?" + randomString(rng, pathBytes+"?/", rng.IntN(40)))
		}
		if malformed && rng.IntN(3) == 0 {
			b.WriteString("%z")
		}
		target = b.String()
	}
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: catalog\r\n", method, target)
	header := func(name, value string) { fmt.Fprintf(&raw, "%s: %s\r\n", name, value) }
	if rng.IntN(2) == 0 {
		header("X-Correlation-Id", randomValue(rng, 1+rng.IntN(200)))
	}
	if rng.IntN(4) == 0 {
		header("Traceparent", randomValue(rng, rng.IntN(80)))
	}
	if rng.IntN(3) == 0 {
		header("User-Agent", randomValue(rng, rng.IntN(300)))
	}
	for range rng.IntN(6) {
		header("X-"+randomString(rng, "abcdefghijklmnopqrstuvwxyz-", 1+rng.IntN(20)), randomValue(rng, rng.IntN(200)))
	}
	switch {
	case malformed && rng.IntN(5) == 0: // beyond MaxHeaderBytes: 431
		header("X-Big", strings.Repeat("b", 80<<10))
	case malformed:
		const controls = "\x00\x01\x07\x0b\x0c\x1b\x7f" // not tab, CR or LF: the framing stays
		header("X-Control", "a"+string(controls[rng.IntN(len(controls))])+"b")
	}
	var body []byte
	if method != "GET" && method != "HEAD" && rng.IntN(2) == 0 {
		body = []byte(randomValue(rng, rng.IntN(2048)))
		header("Content-Type", "application/json")
		header("Content-Length", strconv.Itoa(len(body)))
	}
	raw.WriteString("\r\n")
	raw.Write(body)
	return floodRequest{method: method, target: target, raw: raw.Bytes()}
}

func randomString(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// obsText holds every byte from 0x80 to 0xff.
var obsText = func() []byte {
	b := make([]byte, 0, 0x80)
	for c := 0x80; c <= 0xff; c++ {
		b = append(b, byte(c))
	}
	return b
}()

// randomValue is printable ASCII with now and then a byte of obs-text
// (0x80-0xff), which a header value may hold.
func randomValue(rng *rand.Rand, n int) string {
	const printable = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	b := make([]byte, n)
	for i := range b {
		if rng.IntN(50) == 0 {
			b[i] = obsText[rng.IntN(len(obsText))]
		} else {
			b[i] = printable[rng.IntN(len(printable))]
		}
	}
	return string(b)
}
