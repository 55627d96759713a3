package health

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serve(w, r, kind) })
}

// Mount serves GET and HEAD /livez, /readyz and /startupz, and
// /livez/{name}, /readyz/{name} and /startupz/{name} for one check, on mux.
// Like any ServeMux registration it panics if mux already has one of
// those patterns.
func (c *Checker) Mount(mux *http.ServeMux) {
	for path, kind := range map[string]Kind{"/livez": Liveness, "/readyz": Readiness, "/startupz": Startup} {
		h := c.Handler(kind)
		mux.Handle("GET "+path, h)
		mux.Handle("GET "+path+"/{name}", h)
	}
}

func (c *Checker) serve(w http.ResponseWriter, r *http.Request, kind Kind) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if kind >= kinds {
		http.Error(w, "health: unknown kind", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	body, code := c.evaluate(r, kind)
	if code == http.StatusNotFound {
		http.Error(w, "health: no "+kind.String()+" check of that name", code)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		// #nosec G705 -- body is encoding/json output served as application/health+json, never HTML
		_, _ = w.Write(body) // the client went away; nothing to do
	}
}

// report is a response body; checkReport one check's entry in it.
type report struct {
	Status string                   `json:"status"`
	Output string                   `json:"output,omitempty"`
	Checks map[string][]checkReport `json:"checks,omitempty"`
}

type checkReport struct {
	Status   string `json:"status"`
	Time     string `json:"time,omitempty"`
	Duration string `json:"duration,omitempty"`
	Output   string `json:"output,omitempty"`
}

// evaluate runs (or reads) the selected checks of kind and returns the
// body and code. When the client goes away before the checks are decided
// it returns 503 and no body: nobody is left to read one.
func (c *Checker) evaluate(r *http.Request, kind Kind) ([]byte, int) {
	if kind == Readiness && c.draining.Load() {
		return encode(report{Status: Fail.String(), Output: "draining"}), http.StatusServiceUnavailable
	}
	sel, ok := c.selected(r, kind)
	if !ok {
		return nil, http.StatusNotFound
	}
	// Start every on-demand check first, so that they run in parallel,
	// then wait for each; a run is decided by its deadline at the latest.
	var runs []*run
	for _, ch := range sel {
		if ch.interval == 0 {
			runs = append(runs, ch.join())
		}
	}
	for _, run := range runs {
		select {
		case <-run.done:
		case <-r.Context().Done():
			return nil, http.StatusServiceUnavailable
		}
	}

	overall := Pass
	rep := report{Checks: make(map[string][]checkReport, len(sel))}
	for _, ch := range sel {
		res := ch.read()
		overall = max(overall, res.status)
		rep.Checks[ch.name] = []checkReport{res.report(c.show)}
	}
	rep.Status = overall.String()
	if overall == Fail {
		return encode(rep), http.StatusServiceUnavailable
	}
	return encode(rep), http.StatusOK
}

func (res result) report(show bool) checkReport {
	cr := checkReport{Status: res.status.String()}
	if res.ran {
		cr.Time = res.at.UTC().Format(time.RFC3339Nano)
		cr.Duration = res.took.String()
	}
	switch {
	case !show:
	case res.err != nil:
		cr.Output = res.err.Error()
	case !res.ran:
		cr.Output = "no result yet"
	}
	return cr
}

// encode renders a body without HTML escaping (error text reads as
// written) and without encoding/json's trailing newline.
func encode(rep report) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(rep) // strings and maps of strings always encode
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// selected returns the checks a probe reports: the one its {name} path
// value names (false when there is none), or all those not excluded.
func (c *Checker) selected(r *http.Request, kind Kind) ([]*check, bool) {
	all := c.list(kind)
	if name := r.PathValue("name"); name != "" {
		i, ok := slices.BinarySearchFunc(all, name, byName)
		if !ok {
			return nil, false
		}
		return all[i : i+1], true
	}
	excl := excluded(r.URL.RawQuery)
	return slices.DeleteFunc(slices.Clone(all), func(ch *check) bool { return slices.Contains(excl, ch.name) }), true
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
