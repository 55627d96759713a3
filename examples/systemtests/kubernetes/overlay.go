package kubernetes

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// validTag is what a container image tag may be.
var validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// WriteOverlay writes into dir a kustomization that takes the one in base
// unchanged and sets only the tags of its images: tags maps the last path
// element of each image name in base's images list (catalog for
// registry.example.com/prodready/catalog) to its new tag. Every image of
// the list needs a tag, and every tag an image.
func WriteOverlay(dir, base string, tags map[string]string) error {
	b, err := os.ReadFile(filepath.Join(base, "kustomization.yaml")) // #nosec G304 -- the caller's base directory
	if err != nil {
		return err
	}
	var k struct {
		Images []struct {
			Name string `yaml:"name"`
		} `yaml:"images"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(base, "kustomization.yaml"), err)
	}
	rel, err := filepath.Rel(dir, base)
	if err != nil {
		return err
	}
	var out strings.Builder
	out.WriteString("# examples/manifests with nothing changed but the tags of its images.\n")
	out.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	fmt.Fprintf(&out, "resources:\n  - %s\nimages:\n", filepath.ToSlash(rel))
	var errs []error
	known := map[string]bool{}
	for _, img := range k.Images {
		short := path.Base(img.Name)
		known[short] = true
		tag, ok := tags[short]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("no tag for the image %s", img.Name))
		case !validTag.MatchString(tag):
			errs = append(errs, fmt.Errorf("image %s: %q is not a tag", img.Name, tag))
		default:
			fmt.Fprintf(&out, "  - name: %s\n    newTag: %q\n", img.Name, tag)
		}
	}
	var unknown []string
	for short := range tags {
		if !known[short] {
			unknown = append(unknown, short)
		}
	}
	slices.Sort(unknown)
	for _, short := range unknown {
		errs = append(errs, fmt.Errorf("a tag for %s, which is not an image of %s", short, base))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(out.String()), 0o600)
}
