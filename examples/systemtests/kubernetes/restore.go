package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// ourChain reports whether an iptables chain is one the cluster makes:
// kube-proxy's and the kubelet's (KUBE-), the CNI plugins' (CNI-).
func ourChain(name string) bool {
	return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-")
}

// Leftovers lists what a previous cluster left on the host, as seen in
// the picture s: a cluster must not start on top of it. Empty means the
// host is clear.
func Leftovers(s State, h Host) []string {
	var found []string
	if h.StateDir != "" {
		if _, err := os.Stat(h.StateDir); err == nil {
			found = append(found, "the runtime directory "+h.StateDir+" of a previous cluster is still there")
		}
	}
	for _, p := range s[secProcesses] {
		found = append(found, "a process of the cluster still runs: "+p)
	}
	for _, l := range s[secLinks] {
		if name, _, _ := strings.Cut(l, " "); h.Bridge != "" && name == h.Bridge {
			found = append(found, "the bridge "+h.Bridge+" exists")
		}
	}
	for _, b := range iptablesBackends {
		for _, l := range s[b.section] {
			if name, ok := strings.CutPrefix(l, ":"); ok {
				if name, _, _ = strings.Cut(name, " "); ourChain(name) {
					found = append(found, b.section+": chain "+name)
				}
			}
		}
	}
	for _, n := range s[secNetns] {
		if strings.HasPrefix(n, "cni-") {
			found = append(found, "network namespace /run/netns/"+n)
		}
	}
	for _, c := range s[secCgroups] {
		if strings.HasPrefix(filepath.Base(c), "kubepods") {
			found = append(found, "cgroup "+c)
		}
	}
	for _, m := range s[secMounts] {
		if point, _, _ := strings.Cut(m, " "); ourMount(point, h) {
			found = append(found, "mount "+point)
		}
	}
	return found
}

// ourMount reports whether a mount point is the cluster's: under its
// runtime directory (container root filesystems, shm, Secret volumes) or a
// pod network namespace of containerd's.
func ourMount(point string, h Host) bool {
	return (h.StateDir != "" && strings.HasPrefix(point, h.StateDir+"/")) || strings.HasPrefix(point, "/run/netns/cni-")
}

// restoredSysctls are the sysctls the cluster's components are known to
// set: the kubelet (unless protectKernelDefaults, which makes it refuse to
// start instead), kube-proxy (conntrack, route_localnet), and what pods on
// a bridge need. Restore writes back the recorded value of those only;
// anything else that differs is reported by Compare, not overwritten.
var restoredSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
	"net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "net.ipv4.conf.all.route_localnet",
	"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
	"net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_tcp_timeout_established",
	"net.netfilter.nf_conntrack_tcp_timeout_close_wait",
}

// removedPaths are directories the runtime, the kubelet, CNI and the mount
// command (libmount's /run/mount) make on the host whatever their
// configuration; Restore removes one only when it
// was not there before.
var removedPaths = []string{
	"/run/containerd", "/run/netns", "/run/mount", "/var/lib/cni", "/var/log/pods", "/var/log/containers",
	"/var/lib/kubelet", "/usr/libexec/kubernetes", "/etc/cni", "/opt/cni",
}

// Restore undoes what a stopped cluster left on the host, against the
// picture before taken when it started: mounts and network namespaces,
// kubepods cgroups, iptables chains and the nf_tables tables made for
// them, the bridge, sysctls, directories. It returns what it did. The
// cluster's processes must be gone first.
func Restore(ctx context.Context, h Host, before State) ([]string, error) {
	now, err := Record(ctx, h)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	note := func(action string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", action, err))
			return
		}
		done = append(done, action)
	}

	// Mounts, deepest first, then the namespaces' files.
	var points []string
	for _, m := range now[secMounts] {
		if point, _, _ := strings.Cut(m, " "); ourMount(point, h) {
			points = append(points, point)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, p := range points {
		note("unmount "+p, syscall.Unmount(p, syscall.MNT_DETACH))
	}
	for _, n := range now[secNetns] {
		if strings.HasPrefix(n, "cni-") && !slices.Contains(before[secNetns], n) {
			note("remove network namespace "+n, os.Remove(filepath.Join("/run/netns", n)))
		}
	}

	for _, c := range now[secCgroups] {
		if strings.HasPrefix(filepath.Base(c), "kubepods") && !slices.Contains(before[secCgroups], c) {
			note("remove cgroup "+c, removeCgroup(filepath.Join("/sys/fs/cgroup", c)))
		}
	}

	for _, b := range iptablesBackends {
		if _, ok := now[b.section]; !ok {
			continue
		}
		save, err := command(ctx, b.save)
		if err != nil {
			note(b.section, err)
			continue
		}
		script, chains := cleanupScript(save, func(chain string) bool {
			return ourChain(chain) && !slices.Contains(before[b.section], ":"+chain+" -")
		})
		if script == "" {
			continue
		}
		note(fmt.Sprintf("%s: remove %d chains (%s)", b.section, len(chains), strings.Join(chains, " ")),
			restore(ctx, b.restore, script))
	}

	if h.Bridge != "" {
		for _, l := range now[secLinks] {
			if name, _, _ := strings.Cut(l, " "); name == h.Bridge {
				_, err := command(ctx, "ip", "link", "delete", h.Bridge)
				note("delete bridge "+h.Bridge, err)
			}
		}
	}

	for _, t := range now[secNftTables] {
		if slices.Contains(before[secNftTables], t) {
			continue
		}
		family, name, ok := strings.Cut(strings.TrimPrefix(t, "table "), " ")
		if !ok {
			continue
		}
		empty, err := nftTableEmpty(ctx, family, name)
		if err != nil || !empty {
			note("keep "+t+" (not empty: someone else uses it)", err)
			continue
		}
		_, err = command(ctx, "nft", "delete", "table", family, name)
		note("delete nftables "+t, err)
	}

	was := sysctlMap(before[secSysctl])
	is := sysctlMap(now[secSysctl])
	for _, k := range restoredSysctls {
		if v, ok := was[k]; ok && is[k] != v {
			p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
			note(fmt.Sprintf("sysctl %s = %s (was set to %s)", k, v, is[k]), os.WriteFile(p, []byte(v+"\n"), 0o644)) // #nosec G306 -- a sysctl file
		}
	}

	for _, p := range removedPaths {
		if slices.Contains(before[secPaths], p) || !pathRecorded(now[secPaths], p) {
			continue
		}
		note("remove "+p, os.RemoveAll(p))
	}
	return done, errors.Join(errs...)
}

func pathRecorded(paths []string, p string) bool {
	if slices.Contains(paths, p) {
		return true
	}
	_, err := os.Lstat(p)
	return err == nil
}

func sysctlMap(lines []string) map[string]string {
	m := make(map[string]string, len(lines))
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, " = "); ok {
			m[k] = v
		}
	}
	return m
}

// removeCgroup removes a cgroup and the ones below it, deepest first
// (rmdir is how a cgroup goes; one with processes left refuses).
func removeCgroup(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var errs []error
	for _, d := range slices.Backward(dirs) {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

func restore(ctx context.Context, bin, script string) error {
	cmd := exec.CommandContext(ctx, bin, "--noflush") // #nosec G204 -- an iptables-restore of the known list
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s\n%s", bin, err, strings.TrimSpace(string(out)), script)
	}
	return nil
}

// nftTableEmpty reports whether an nf_tables table holds no rule: what
// iptables-nft leaves after the last chain of a table is gone.
func nftTableEmpty(ctx context.Context, family, name string) (bool, error) {
	out, err := command(ctx, "nft", "-j", "list", "table", family, name)
	if err != nil {
		return false, err
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return false, err
	}
	for _, o := range doc.Nftables {
		if _, ok := o["rule"]; ok {
			return false, nil
		}
		if _, ok := o["set"]; ok {
			return false, nil
		}
	}
	return true, nil
}

// cleanupScript returns the iptables-restore --noflush input that removes
// the chains ours selects from the tables in save (iptables-save output):
// first the rules elsewhere that jump to them, then their rules, then the
// chains. It also returns the chains, and "" when there are none.
func cleanupScript(save string, ours func(chain string) bool) (string, []string) {
	type table struct {
		name   string
		chains []string
		jumps  []string
	}
	var tables []*table
	var cur *table
	for l := range strings.Lines(save) {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "*"):
			cur = &table{name: l[1:]}
			tables = append(tables, cur)
		case cur == nil:
		case strings.HasPrefix(l, ":"):
			if name, _, _ := strings.Cut(l[1:], " "); ours(name) {
				cur.chains = append(cur.chains, name)
			}
		case strings.HasPrefix(l, "-A "):
			f := strings.Fields(l)
			if ours(f[1]) {
				continue // goes with its chain
			}
			for i, w := range f {
				if (w == "-j" || w == "-g") && i+1 < len(f) && ours(f[i+1]) {
					cur.jumps = append(cur.jumps, "-D"+strings.TrimPrefix(l, "-A"))
					break
				}
			}
		}
	}
	var b strings.Builder
	var all []string
	for _, t := range tables {
		if len(t.chains) == 0 && len(t.jumps) == 0 {
			continue
		}
		b.WriteString("*" + t.name + "\n")
		for _, j := range t.jumps {
			b.WriteString(j + "\n")
		}
		for _, c := range t.chains {
			b.WriteString("-F " + c + "\n")
		}
		for _, c := range t.chains {
			b.WriteString("-X " + c + "\n")
		}
		b.WriteString("COMMIT\n")
		for _, c := range t.chains {
			all = append(all, t.name+"/"+c)
		}
	}
	return b.String(), all
}
