//go:build unix

package secrets

import (
	"os"
	"path/filepath"
	"testing"
)

// The file's own directory is a symlink (a volume linked into /etc/app,
// say), not the Kubernetes ..data link inside it. Events alone keep the
// value current, whether another watch in the process reaches the same
// directory through the link or by its real path, and whichever of them
// closes first.
func TestSymlinkedDirectory(t *testing.T) {
	tests := []struct {
		name       string
		first      string // "link" or "real": which path joins the hub first
		closeFirst bool   // close the first watch before rotating
	}{
		{name: "link first", first: "link"},
		{name: "real first", first: "real"},
		{name: "link first, then closed", first: "link", closeFirst: true},
		{name: "real first, then closed", first: "real", closeFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			real := filepath.Join(root, "volume")
			link := filepath.Join(root, "app")
			if err := os.Mkdir(real, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(real, "a"), "a0")
			writeFile(t, filepath.Join(real, "b"), "b0")
			viaLink, viaReal := filepath.Join(link, "a"), filepath.Join(real, "b")
			if tt.first == "real" {
				viaLink, viaReal = filepath.Join(real, "a"), filepath.Join(link, "b")
			}
			first, err := Watch(t.Context(), viaLink, fastEvents...)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			second := mustWatch(t, viaReal, fastEvents...)
			if tt.closeFirst {
				_ = first.Close()
			}

			writeFile(t, filepath.Join(real, "b"), "b1")
			waitValue(t, second, "b1")
			if !tt.closeFirst {
				writeFile(t, filepath.Join(real, "a"), "a1")
				waitValue(t, first, "a1")
			}
		})
	}
}
