package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Profiler returns the Go profiler as one handler, for the admin port
// behind Guard, at any prefix ending in a slash (go tool pprof expects
// "/debug/pprof/"):
//
//	admin.Handle("GET /debug/pprof/", guard(server.Profiler()))
//
//	go tool pprof -http=: -H "Authorization: Bearer $TOKEN" http://localhost:9090/debug/pprof/heap
//
// It serves what net/http/pprof serves, on runtime/pprof directly: the
// index (prefix/), every named profile (prefix/heap, goroutine, allocs,
// block, mutex, threadcreate; ?debug=1 or 2 for text, ?gc=1 to collect
// before a heap profile), a CPU profile (prefix/profile?seconds=30) and an
// execution trace (prefix/trace?seconds=1). It leaves out cmdline (the
// arguments can hold what should not leave the process), symbol (profiles
// carry their symbols) and delta profiles (?seconds= on a named profile).
//
// ?seconds= must be a finite number above zero and below the server's
// WriteTimeout (one minute on a server without one); anything else is
// answered 400, naming the limit. Only one CPU profile and one trace run
// at a time in a process: one that could last for ever (seconds=999999)
// would hold the profiler from every later caller and, at a shutdown, the
// admin server to the end of the budget. Pass StopProfiles with the
// shutdown's context so that a profile in progress ends (and its partial
// profile is sent) the moment the shutdown begins:
//
//	admin.Handle("GET /debug/pprof/", guard(server.Profiler(server.StopProfiles(sd.Context()))))
//
// It does not import net/http/pprof, whose init registers the same
// handlers on http.DefaultServeMux for every program that links it,
// unguarded: a service serving DefaultServeMux on its traffic port would
// publish its profiler. Importing this package registers nothing.
func Profiler(opts ...ProfilerOption) http.Handler {
	p := &profiler{stop: context.Background()}
	for _, o := range opts {
		if o != nil {
			o.apply(p)
		}
	}
	return p
}

// ProfilerOption configures Profiler.
type ProfilerOption interface{ apply(*profiler) }

type profilerOption func(*profiler)

func (f profilerOption) apply(p *profiler) { f(p) }

// StopProfiles ends the CPU profiles and traces in progress when ctx
// ends: pass the shutdown's Context, which ends when the shutdown begins.
func StopProfiles(ctx context.Context) ProfilerOption {
	return profilerOption(func(p *profiler) {
		if ctx != nil {
			p.stop = ctx
		}
	})
}

type profiler struct {
	stop context.Context // ends the timed profiles in progress
}

// maxProfileNoTimeout bounds ?seconds= on a server without a WriteTimeout.
const maxProfileNoTimeout = time.Minute

func (p *profiler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	switch name {
	case "":
		profileIndex(w)
	case "profile":
		p.timed(w, r, 30, "profile", func(w http.ResponseWriter) error { return pprof.StartCPUProfile(w) }, pprof.StopCPUProfile)
	case "trace":
		p.timed(w, r, 1, "trace", func(w http.ResponseWriter) error { return trace.Start(w) }, trace.Stop)
	default:
		named(w, r, name)
	}
}

// profileIndex lists what the profiler serves, as text.
func profileIndex(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	profiles := pprof.Profiles()
	slices.SortFunc(profiles, func(a, b *pprof.Profile) int { return strings.Compare(a.Name(), b.Name()) })
	for _, p := range profiles {
		fmt.Fprintf(w, "%-12s %6d  ?debug=1 for text\n", p.Name(), p.Count())
	}
	fmt.Fprintf(w, "%-12s %6s  CPU profile, ?seconds=30\n", "profile", "")
	fmt.Fprintf(w, "%-12s %6s  execution trace, ?seconds=1\n", "trace", "")
}

// named writes one of runtime/pprof's named profiles.
func named(w http.ResponseWriter, r *http.Request, name string) {
	p := pprof.Lookup(name)
	if p == nil {
		profileError(w, http.StatusNotFound, "unknown profile: the index (the prefix alone) lists them")
		return
	}
	if r.FormValue("seconds") != "" {
		profileError(w, http.StatusBadRequest, "delta profiles (?seconds= on a named profile) are not served; take two profiles and compare them with go tool pprof -diff_base")
		return
	}
	debug, _ := strconv.Atoi(r.FormValue("debug"))
	if name == "heap" && r.FormValue("gc") != "" && r.FormValue("gc") != "0" {
		runtime.GC()
	}
	if debug > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	_ = p.WriteTo(w, debug) // a failure here is the client's connection
}

// timed runs a profile that lasts ?seconds= (def when absent), writing to
// w from start to stop, and stops early when the client goes away or the
// StopProfiles context ends. The connection's write deadline is moved
// past the profile's end, as net/http/pprof does, so that the server's
// WriteTimeout does not cut it.
func (p *profiler) timed(w http.ResponseWriter, r *http.Request, def float64, name string, start func(http.ResponseWriter) error, stop func()) {
	limit := maxProfileNoTimeout
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv != nil && srv.WriteTimeout > 0 {
		limit = srv.WriteTimeout
	}
	d, problem := profileDuration(r.FormValue("seconds"), def, limit, name)
	if problem != "" {
		profileError(w, http.StatusBadRequest, problem)
		return
	}
	if err := p.stop.Err(); err != nil {
		profileError(w, http.StatusServiceUnavailable, "shutting down: no new "+name)
		return
	}
	if srv != nil && srv.WriteTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(srv.WriteTimeout + d))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if err := start(w); err != nil { // nothing written yet
		profileError(w, http.StatusInternalServerError, "cannot start the "+name+": "+err.Error())
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-p.stop.Done():
	}
	stop()
}

// profileDuration parses ?seconds= (v; def when empty) for a profile that
// must end within limit, and returns the duration, or what is wrong with
// v for a 400.
func profileDuration(v string, def float64, limit time.Duration, name string) (time.Duration, string) {
	sec := def
	if v != "" {
		var err error
		sec, err = strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(sec) || math.IsInf(sec, 0) || sec <= 0 {
			return 0, fmt.Sprintf("seconds=%.40q: want a number of seconds above 0 and below %v", v, limit)
		}
	}
	// Compared as floats, before any conversion: 1e300 or 9.3e9 seconds
	// do not fit a time.Duration.
	if sec >= limit.Seconds() {
		return 0, fmt.Sprintf("seconds=%g: a %s must end within the server's write timeout, %v: ask for less", sec, name, limit)
	}
	return max(time.Duration(sec*float64(time.Second)), 1), ""
}

func profileError(w http.ResponseWriter, code int, msg string) {
	w.Header().Del("Content-Disposition")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
