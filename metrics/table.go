package metrics

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prodready/prodready/internal/request"
)

// The label values that stand for many.
const (
	overflow = "other" // a route or host past the limit, a code outside 100-599
	failed   = "error" // a client call that got no response
)

// Codes outside 100-599 share one series; a client call with no response
// has its own.
const (
	codeOther = 0
	codeError = -1
)

func foldCode(code int) int {
	if code < 100 || code > 599 {
		return codeOther
	}
	return code
}

func codeLabel(code int) string {
	switch code {
	case codeOther:
		return overflow
	case codeError:
		return failed
	}
	return strconv.Itoa(code)
}

// observer is what the histograms of client_golang implement.
type observer interface {
	prometheus.Observer
	prometheus.ExemplarObserver
}

// series are the children of the vectors for one (method, route or host,
// code, error type), resolved once: WithLabelValues hashes and allocates on
// every call.
type series struct {
	code     int
	errType  string // one of request.Outcome's bounded error types; "" on the client side
	requests prometheus.Counter
	duration observer
	size     prometheus.Observer // nil on the client side

	// exemplarAt holds, per classic bucket, when it last took an exemplar.
	exemplarAt []atomic.Int64
}

// labelSet holds the series of one route (or host), per method the few
// codes seen so far. Lists only grow, and are replaced whole, so readers
// take no lock.
type labelSet struct {
	name    string
	methods [request.NumMethods]atomic.Pointer[[]*series]
}

// table maps the route (or host) label values to their series, with at
// most limit distinct values besides the reserved ones. Reads are a map
// lookup on an immutable map; a miss takes the mutex and copies the map,
// which happens at most limit times in the life of the table.
type table struct {
	limit int
	newS  func(method, name, code, errType string) *series
	n     int // label values added beyond the reserved ones; under mu

	m     atomic.Pointer[map[string]*labelSet]
	full  atomic.Bool
	mu    sync.Mutex
	other *labelSet
}

func newTable(limit int, newS func(method, name, code, errType string) *series, reserved ...string) *table {
	t := &table{limit: limit, newS: newS, other: &labelSet{name: overflow}}
	m := map[string]*labelSet{overflow: t.other}
	for _, name := range reserved {
		m[name] = &labelSet{name: name}
	}
	t.m.Store(&m)
	return t
}

// get returns the series for the method index, label value, code and
// error type, creating them on first use. errType must come from a bounded
// set.
func (t *table) get(method int, name string, code int, errType string) *series {
	ls := t.labels(name)
	if p := ls.methods[method].Load(); p != nil {
		for _, s := range *p {
			if s.code == code && s.errType == errType {
				return s
			}
		}
	}
	return t.add(ls, method, code, errType)
}

func (t *table) labels(name string) *labelSet {
	if ls := (*t.m.Load())[name]; ls != nil {
		return ls
	}
	if t.full.Load() {
		return t.other
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if ls := old[name]; ls != nil {
		return ls
	}
	if t.n >= t.limit {
		t.full.Store(true)
		return t.other
	}
	m := make(map[string]*labelSet, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	// The name may come from a request (a custom router, a client URL):
	// label values must be UTF-8, and the table must not pin the request.
	// Every key added counts, so that invalid spellings of one value
	// cannot grow the map past the limit either.
	clean := strings.ToValidUTF8(name, "\uFFFD")
	ls := m[clean]
	if ls == nil {
		ls = &labelSet{name: strings.Clone(clean)}
		m[ls.name] = ls
	}
	m[strings.Clone(name)] = ls
	t.n++
	t.m.Store(&m)
	return ls
}

func (t *table) add(ls *labelSet, method, code int, errType string) *series {
	t.mu.Lock()
	defer t.mu.Unlock()
	var old []*series
	if p := ls.methods[method].Load(); p != nil {
		old = *p
	}
	for _, s := range old {
		if s.code == code && s.errType == errType {
			return s
		}
	}
	s := t.newS(request.Methods[method], ls.name, codeLabel(code), errType)
	s.code, s.errType = code, errType
	list := append(old[:len(old):len(old)], s)
	ls.methods[method].Store(&list)
	return s
}

// validName reports whether name is a valid metric name, so that a bad
// Namespace fails in Middleware or Transport with a clear error.
func validName(name string) bool {
	if name == "" || !utf8.ValidString(name) {
		return false
	}
	for i, r := range name {
		ok := r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}
