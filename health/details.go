package health

import (
	"encoding/json"
	"net/http"
	"time"
)

// detail is one check in Details' body.
type detail struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	Time     time.Time `json:"time"`
	Duration string    `json:"duration"`
	Error    string    `json:"error,omitempty"`
}

// Details returns a handler that reports the last run of every check
// that has run, with its error: what the probes withhold unless
// ShowReasons. The body is {"checks":[{"name", "kind", "status", "time",
// "duration", "error"}]}, by kind then name; reading it runs no check.
//
// Error text names hosts, users and versions: serve it behind a guard on
// the admin port (server.Guard, or server.Admin's Details), never on the
// traffic port.
func (c *Checker) Details() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		out := []detail{}
		for kind := range Kind(kinds) {
			for _, ch := range c.list(kind) {
				res := ch.read()
				if !res.ran {
					continue
				}
				d := detail{Name: ch.name, Kind: kind.String(), Status: res.status.String(), Time: res.at.UTC(), Duration: res.took.String()}
				if res.err != nil {
					d.Error = res.err.Error()
				}
				out = append(out, d)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string][]detail{"checks": out}) // plain strings always encode
	})
}
