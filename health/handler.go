package health

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

const mediaType = "application/health+json"

// Handler serves the checks of kind: HTTP 200 when every check passes or
// only warns, 503 when one fails, with an application/health+json body
// (the IETF health-check draft) naming each check's status, the time of
// its last run and how long it took. Failure reasons appear only with
// ShowReasons(true).
//
// ?exclude=name leaves a check out (repeat it, or separate names with
// commas). When the route has a {name} wildcard, as Mount's
// "/readyz/{name}" has, the handler reports that one check, or 404.
// Methods other than GET and HEAD get 405.
func (c *Checker) Handler(kind Kind) http.Handler {
	return &handler{c: c, kind: kind}
}

// Mount serves GET and HEAD /livez, /readyz and /startupz, and
// /livez/{name}, /readyz/{name} and /startupz/{name} for one check, on mux.
// Like any ServeMux registration it panics if mux already has one of
// those patterns.
func (c *Checker) Mount(mux *http.ServeMux) {
	for _, m := range [...]struct {
		path string
		kind Kind
	}{{"/livez", Liveness}, {"/readyz", Readiness}, {"/startupz", Startup}} {
		h := c.Handler(m.kind)
		mux.Handle("GET "+m.path, h)
		mux.Handle("GET "+m.path+"/{name}", h)
	}
}

type handler struct {
	c    *Checker
	kind Kind
}

var _ http.Handler = (*handler)(nil)

// bufPool holds response buffers; most bodies are a few hundred bytes.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// The header values every response sets, shared rather than made per
// probe (Header.Set allocates a slice each time). Sharing is safe as long
// as nobody assigns into a value slice in place: Set and Del replace it,
// and Add copies, since len == cap.
var (
	noStore    = []string{"no-store"}
	healthJSON = []string{mediaType}
)

// maxPooled keeps one huge response from pinning its buffer.
const maxPooled = 64 << 10

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.kind >= kinds {
		http.Error(w, "health: unknown kind", http.StatusInternalServerError)
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooled {
			bufPool.Put(bp)
		}
	}()
	body, code := h.c.evaluate(r, h.kind, (*bp)[:0])
	*bp = body
	hdr := w.Header()
	hdr["Cache-Control"] = noStore
	if code == http.StatusNotFound {
		http.Error(w, "health: no "+h.kind.String()+" check of that name", code)
		return
	}
	hdr["Content-Type"] = healthJSON
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // the client went away; nothing to do
	}
}

// evaluate runs (or reads) the selected checks of kind and renders the
// response body into buf. When the client goes away before the checks are
// decided it returns 503 and no body: nobody is left to read one.
func (c *Checker) evaluate(r *http.Request, kind Kind, buf []byte) ([]byte, int) {
	if kind == Readiness && c.draining.Load() {
		return append(buf, `{"status":"fail","output":"draining"}`...), http.StatusServiceUnavailable
	}
	all := c.list(kind)
	var selBuf [16]*check
	sel := selBuf[:0]
	if name := r.PathValue("name"); name != "" {
		i, ok := slices.BinarySearchFunc(all, name, byName)
		if !ok {
			return buf, http.StatusNotFound
		}
		sel = append(sel, all[i])
	} else if r.URL.RawQuery == "" {
		sel = append(sel, all...)
	} else {
		excl := excluded(r.URL.RawQuery)
		for _, ch := range all {
			if !slices.Contains(excl, ch.name) {
				sel = append(sel, ch)
			}
		}
	}

	// Start every on-demand check, so that they run in parallel, then
	// wait once for all of them; a run is decided by its deadline at the
	// latest. The waiter's own count of one keeps the runs that finish
	// while others are still being started from waking the probe early.
	w, _ := c.waiters.Get().(*waiter)
	if w == nil {
		w = &waiter{ch: make(chan struct{}, 1)}
	}
	w.pending.Store(1)
	var batch runBatch
	for _, ch := range sel {
		if ch.interval == 0 {
			batch.left++
		}
	}
	for _, ch := range sel {
		if ch.interval == 0 {
			ch.join(w, &batch)
			batch.left--
		}
	}
	if w.pending.Add(-1) != 0 {
		select {
		case <-w.ch:
		case <-r.Context().Done():
			// The runs still hold w and will release it: it is not
			// reused, the collector takes it.
			return buf, http.StatusServiceUnavailable
		}
	}
	c.waiters.Put(w)

	// Every status word is four letters: write "pass" now and put the
	// worst status in its place once each check has been copied, each
	// under its own lock.
	buf = append(buf, `{"status":"`...)
	at := len(buf)
	buf = append(buf, `pass"`...)
	overall := Pass
	if len(sel) > 0 {
		buf = append(buf, `,"checks":{`...)
		for i, ch := range sel {
			if i > 0 {
				buf = append(buf, ',')
			}
			var st Status
			buf, st = ch.appendTo(buf, c.show)
			overall = max(overall, st)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, '}')
	copy(buf[at:], overall.String())
	if overall == Fail {
		return buf, http.StatusServiceUnavailable
	}
	return buf, http.StatusOK
}

// excluded returns the names in the exclude parameters of a raw query:
// ?exclude=a&exclude=b and ?exclude=a,b both leave out a and b.
func excluded(rawQuery string) []string {
	q, _ := url.ParseQuery(rawQuery) // a malformed pair is skipped, the rest kept
	var names []string
	for _, v := range q["exclude"] {
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end lines in JavaScript.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
