package env_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/internal/env"
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
