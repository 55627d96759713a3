package env_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/env"
)

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"unset", nil, ":8080"},
		{"empty", map[string]string{"ADDR": ""}, ":8080"},
		{"set", map[string]string{"ADDR": ":9000"}, ":9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.Reader{Lookup: lookup(tt.vars)}
			if got := r.String("ADDR", ":8080"); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
			if err := r.Err(); err != nil {
				t.Errorf("Err = %v", err)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    time.Duration
		wantErr string
	}{
		{"unset", nil, 5 * time.Second, ""},
		{"set", map[string]string{"D": "300ms"}, 300 * time.Millisecond, ""},
		{"zero", map[string]string{"D": "0s"}, 0, ""},
		{"malformed", map[string]string{"D": "5"}, 5 * time.Second, `D="5"`},
		{"negative", map[string]string{"D": "-1s"}, 5 * time.Second, `D="-1s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.Reader{Lookup: lookup(tt.vars)}
			if got := r.Duration("D", 5*time.Second); got != tt.want {
				t.Errorf("Duration = %v, want %v", got, tt.want)
			}
			err := r.Err()
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestErrNamesEveryBadVariable(t *testing.T) {
	r := env.Reader{Lookup: lookup(map[string]string{"A": "x", "B": "y"})}
	r.Duration("A", 0)
	r.Duration("B", 0)
	err := r.Err()
	if err == nil || !strings.Contains(err.Error(), `A="x"`) || !strings.Contains(err.Error(), `B="y"`) {
		t.Fatalf("Err = %v, want both A and B named", err)
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		def     bool
		want    bool
		wantErr string
	}{
		{"unset", nil, false, false, ""},
		{"unset, default true", nil, true, true, ""},
		{"empty", map[string]string{"B": ""}, true, true, ""},
		{"true", map[string]string{"B": "true"}, false, true, ""},
		{"one", map[string]string{"B": "1"}, false, true, ""},
		{"false", map[string]string{"B": "false"}, true, false, ""},
		{"typo", map[string]string{"B": "ture"}, false, false, `B="ture"`},
		{"yes is not a boolean", map[string]string{"B": "yes"}, true, true, `B="yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.Reader{Lookup: lookup(tt.vars)}
			if got := r.Bool("B", tt.def); got != tt.want {
				t.Errorf("Bool = %v, want %v", got, tt.want)
			}
			err := r.Err()
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzDuration: whatever the environment holds, Duration returns either a
// non-negative duration that is what time.ParseDuration makes of the value,
// or the default with an error that names the variable; it never panics.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"", "5s", "1.5h", "-1s", "0", "5", "1e9s", "9223372036854775807ns", "300ms", "1h2m3.5s", "\x00", "µs", "1µs", "+3s", "2562047h47m16.854775808s"} {
		f.Add(s)
	}
	const def = 7 * time.Second
	f.Fuzz(func(t *testing.T, v string) {
		r := env.Reader{Lookup: func(string) (string, bool) { return v, true }}
		got := r.Duration("D", def)
		err := r.Err()
		parsed, perr := time.ParseDuration(v)
		switch {
		case v == "":
			if got != def || err != nil {
				t.Fatalf("empty: %v, %v; want the default and no error", got, err)
			}
		case perr != nil || parsed < 0:
			if got != def || err == nil || !strings.HasPrefix(err.Error(), "D=") {
				t.Fatalf("%q: %v, %v; want the default and an error naming D", v, got, err)
			}
		default:
			if got != parsed || err != nil {
				t.Fatalf("%q: %v, %v; want %v", v, got, err, parsed)
			}
		}
	})
}

// FuzzBool: Bool agrees with strconv.ParseBool and never panics.
func FuzzBool(f *testing.F) {
	for _, s := range []string{"", "true", "FALSE", "1", "t", "yes", "ture", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := env.Reader{Lookup: func(string) (string, bool) { return v, true }}
		got := r.Bool("B", true)
		err := r.Err()
		want, perr := strconv.ParseBool(v)
		switch {
		case v == "":
			if !got || err != nil {
				t.Fatalf("empty: %v, %v", got, err)
			}
		case perr != nil:
			if !got || err == nil {
				t.Fatalf("%q: %v, %v; want the default and an error", v, got, err)
			}
		case got != want || err != nil:
			t.Fatalf("%q: %v, %v; want %v", v, got, err, want)
		}
	})
}
