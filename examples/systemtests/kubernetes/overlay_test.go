package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteOverlay(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "examples", "manifests")
	write(t, base, map[string]string{"kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [catalog.yaml]
images:
  - name: registry.example.com/prodready/catalog
    newTag: 1.0.0
  - name: postgres
    newTag: "17.6"
`})
	tests := []struct {
		name    string
		tags    map[string]string
		wantErr string // empty: success
	}{
		{"every image tagged", map[string]string{"catalog": "22a2adc-dirty", "postgres": "15-abc-k8s"}, ""},
		{"an image without a tag", map[string]string{"catalog": "1.2.3"}, "no tag for the image postgres"},
		{"a tag for no image", map[string]string{"catalog": "1", "postgres": "2", "orders": "3"}, "a tag for orders, which is not an image"},
		{"not a tag", map[string]string{"catalog": "a/b", "postgres": "2"}, `"a/b" is not a tag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "overlay")
			err := WriteOverlay(dir, base, tt.tags)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}

	dir := filepath.Join(root, "overlay")
	if err := WriteOverlay(dir, base, map[string]string{"catalog": "22a2adc-dirty", "postgres": "15-abc-k8s"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := `# examples/manifests with nothing changed but the tags of its images.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../examples/manifests
images:
  - name: registry.example.com/prodready/catalog
    newTag: "22a2adc-dirty"
  - name: postgres
    newTag: "15-abc-k8s"
`
	if string(got) != want {
		t.Errorf("overlay:\n%s\nwant:\n%s", got, want)
	}
}
