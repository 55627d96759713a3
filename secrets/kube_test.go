package secrets

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// kubeWriter replays, step by step, how the kubelet's atomic writer
// (kubernetes pkg/volume/util/atomic_writer.go) updates a Secret volume:
//
//  1. write every key into a new timestamped directory ..<ts>;
//  2. symlink ..data_tmp → ..<ts>;
//  3. rename ..data_tmp over ..data (the one atomic step);
//  4. link each new key: <key> → ..data/<key>;
//  5. remove the links of keys that are gone;
//  6. remove the old timestamped directory.
//
// linkFirst moves step 4 before step 3, the order of older kubelets and of
// the Secrets Store CSI driver: a new key's link dangles until the swap.
type kubeWriter struct {
	t         testing.TB
	dir       string
	linkFirst bool
	gen       int
	links     map[string]bool
}

func newKubeWriter(t testing.TB, linkFirst bool) *kubeWriter {
	return &kubeWriter{t: t, dir: t.TempDir(), linkFirst: linkFirst, links: map[string]bool{}}
}

func (k *kubeWriter) path(key string) string { return filepath.Join(k.dir, key) }

func (k *kubeWriter) write(files map[string]string) {
	t := k.t
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	k.gen++
	ts := fmt.Sprintf("..2025_06_01_12_00_%02d.%09d", k.gen%60, k.gen)
	must(os.Mkdir(filepath.Join(k.dir, ts), 0o755))
	for key, content := range files {
		must(os.WriteFile(filepath.Join(k.dir, ts, key), []byte(content), 0o644)) // #nosec G306 -- the kubelet's default mode
	}
	old, _ := os.Readlink(filepath.Join(k.dir, "..data"))
	if k.linkFirst {
		k.link(files)
	}
	must(os.Symlink(ts, filepath.Join(k.dir, "..data_tmp")))
	must(os.Rename(filepath.Join(k.dir, "..data_tmp"), filepath.Join(k.dir, "..data")))
	if !k.linkFirst {
		k.link(files)
	}
	for key := range k.links {
		if _, ok := files[key]; !ok {
			must(os.Remove(k.path(key)))
			delete(k.links, key)
		}
	}
	if old != "" {
		must(os.RemoveAll(filepath.Join(k.dir, old)))
	}
}

func (k *kubeWriter) link(files map[string]string) {
	for key := range files {
		if !k.links[key] {
			if err := os.Symlink(filepath.Join("..data", key), k.path(key)); err != nil {
				k.t.Fatal(err)
			}
			k.links[key] = true
		}
	}
}
