package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Host says which of the machine's state belongs to the cluster.
type Host struct {
	// StateDir is the cluster's runtime directory: mounts under it and
	// processes naming it are the cluster's.
	StateDir string
	// BinDir holds the cluster's binaries: processes running one are the
	// cluster's.
	BinDir string
	// Bridge is the name of the bridge the pods are on.
	Bridge string
}

// State is a picture of the host: for each section (iptables of one
// backend and family, links, routes, mounts, cgroups, sysctls, ...) its
// lines, sorted. Two pictures are compared with [Compare].
type State map[string][]string

// The sections of a State.
const (
	secNftTables = "nftables tables"
	secLinks     = "links"
	secAddresses = "addresses"
	secRoutes    = "routes"
	secRules     = "ip rules"
	secNetns     = "network namespaces"
	secMounts    = "mounts"
	secCgroups   = "cgroups"
	secSysctl    = "sysctls"
	secPaths     = "paths"
	secProcesses = "processes"
)

// iptablesBackends are the save commands of every iptables the host may
// have: the cluster uses iptables-nft, and legacy tables are recorded too
// so that nothing lands there unnoticed.
var iptablesBackends = []struct{ section, save, restore string }{
	{"iptables nft ipv4", "iptables-nft-save", "iptables-nft-restore"},
	{"iptables nft ipv6", "ip6tables-nft-save", "ip6tables-nft-restore"},
	{"iptables legacy ipv4", "iptables-legacy-save", "iptables-legacy-restore"},
	{"iptables legacy ipv6", "ip6tables-legacy-save", "ip6tables-legacy-restore"},
}

// Record takes the picture of the host that [Compare] compares. It needs
// root (iptables-save, /proc of every process).
func Record(ctx context.Context, h Host) (State, error) {
	s := State{}
	var errs []error
	for _, b := range iptablesBackends {
		if _, err := exec.LookPath(b.save); err != nil {
			continue
		}
		out, err := command(ctx, b.save)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s[b.section] = iptablesLines(out)
	}
	if _, err := exec.LookPath("nft"); err == nil {
		out, err := command(ctx, "nft", "list", "tables")
		if err != nil {
			errs = append(errs, err)
		}
		s[secNftTables] = nonEmptyLines(out)
	}
	for _, c := range []struct {
		section string
		args    []string
		parse   func([]byte) ([]string, error)
	}{
		{secLinks, []string{"-j", "link", "show"}, linkLines},
		{secAddresses, []string{"-j", "addr", "show"}, addressLines},
		{secRoutes, []string{"-j", "-4", "route", "show", "table", "all"}, routeLines},
		{secRoutes, []string{"-j", "-6", "route", "show", "table", "all"}, routeLines},
	} {
		out, err := command(ctx, "ip", c.args...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lines, err := c.parse([]byte(out))
		if err != nil {
			errs = append(errs, fmt.Errorf("ip %s: %w", strings.Join(c.args, " "), err))
			continue
		}
		s[c.section] = append(s[c.section], lines...)
	}
	for _, family := range []string{"-4", "-6"} {
		out, err := command(ctx, "ip", family, "rule", "show")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, l := range nonEmptyLines(out) {
			s[secRules] = append(s[secRules], family+" "+l)
		}
	}
	s[secNetns] = dirEntries("/run/netns")
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		errs = append(errs, err)
	}
	s[secMounts] = mountLines(string(mountinfo))
	s[secCgroups] = cgroupLines("/sys/fs/cgroup")
	s[secSysctl] = sysctlLines("/proc/sys")
	s[secPaths] = pathLines("/")
	s[secProcesses] = processLines("/proc", h)
	for k, v := range s {
		slices.Sort(v)
		s[k] = v
	}
	return s, errors.Join(errs...)
}

// command runs a command and returns its standard output.
func command(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...) // #nosec G204 -- fixed host tools with the harness's own arguments
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}

func nonEmptyLines(s string) []string {
	var lines []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// Docker's state changes whenever a container starts or stops on the
// machine, which other work here does at any time: its chains, its
// bridges (docker0, br-<id>), the addresses of its default pools, the
// veths of its containers.
var (
	dockerRule   = regexp.MustCompile(`DOCKER|docker0|\bbr-[0-9a-f]{12}\b|\b172\.(1[6-9]|2[0-9]|3[01])\.`)
	dockerBridge = regexp.MustCompile(`^(docker0|br-[0-9a-f]{12})$`)
	counters     = regexp.MustCompile(` \[\d+:\d+\]$`)
)

// iptablesLines normalises the output of iptables-save: no comments, no
// packet counters, none of Docker's rules.
func iptablesLines(save string) []string {
	var lines []string
	for l := range strings.Lines(save) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || dockerRule.MatchString(l) {
			continue
		}
		lines = append(lines, counters.ReplaceAllString(l, ""))
	}
	return lines
}

type ipLink struct {
	Name   string   `json:"ifname"`
	Master string   `json:"master"`
	Kind   string   `json:"link_type"`
	Flags  []string `json:"flags"`
	Addrs  []struct {
		Family string `json:"family"`
		Local  string `json:"local"`
		Prefix int    `json:"prefixlen"`
		Scope  string `json:"scope"`
	} `json:"addr_info"`
}

// dockerLink reports whether an interface is Docker's: one of its bridges,
// or a veth on one of them. A veth with no bridge is one being set up or
// torn down by whoever owns it: the cluster's are always on its bridge.
func dockerLink(name, master string) bool {
	if dockerBridge.MatchString(name) {
		return true
	}
	return strings.HasPrefix(name, "veth") && (master == "" || dockerBridge.MatchString(master))
}

// links parses `ip -j link` or `ip -j addr`, leaving Docker's out.
func links(js []byte) ([]ipLink, error) {
	var all []ipLink
	if err := json.Unmarshal(js, &all); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(l ipLink) bool { return dockerLink(l.Name, l.Master) }), nil
}

func linkLines(js []byte) ([]string, error) {
	ls, err := links(js)
	var lines []string
	for _, l := range ls {
		line := l.Name + " " + l.Kind
		if l.Master != "" {
			line += " master " + l.Master
		}
		if slices.Contains(l.Flags, "UP") {
			line += " up"
		}
		lines = append(lines, line)
	}
	return lines, err
}

func addressLines(js []byte) ([]string, error) {
	ls, err := links(js)
	var lines []string
	for _, l := range ls {
		for _, a := range l.Addrs {
			lines = append(lines, fmt.Sprintf("%s %s %s/%d scope %s", l.Name, a.Family, a.Local, a.Prefix, a.Scope))
		}
	}
	return lines, err
}

func routeLines(js []byte) ([]string, error) {
	var routes []struct {
		Type    string `json:"type"`
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
		Table   string `json:"table"`
		Src     string `json:"prefsrc"`
	}
	if err := json.Unmarshal(js, &routes); err != nil {
		return nil, err
	}
	var lines []string
	for _, r := range routes {
		if dockerLink(r.Dev, "") || strings.HasPrefix(r.Dev, "veth") {
			continue
		}
		line := "table " + cmp(r.Table, "main") + " " + cmp(r.Type, "unicast") + " " + r.Dst
		if r.Gateway != "" {
			line += " via " + r.Gateway
		}
		line += " dev " + r.Dev
		if r.Src != "" {
			line += " src " + r.Src
		}
		lines = append(lines, line)
	}
	return lines, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// dockerMounts are where Docker mounts its containers' filesystems and
// network namespaces.
var dockerMounts = []string{"/var/lib/docker/", "/run/docker/", "/var/run/docker/"}

// mountLines reads /proc/self/mountinfo: mount point, type and source of
// each mount but Docker's.
func mountLines(mountinfo string) []string {
	var lines []string
	for l := range strings.Lines(mountinfo) {
		pre, post, ok := strings.Cut(strings.TrimSpace(l), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 2 {
			continue
		}
		point := f[4]
		if slices.ContainsFunc(dockerMounts, func(p string) bool { return strings.HasPrefix(point, p) }) {
			continue
		}
		lines = append(lines, point+" "+g[0]+" "+g[1])
	}
	return lines
}

// cgroupLines lists the cgroups right under each hierarchy's root, where
// the kubelet makes kubepods (Docker's "docker" is left out).
func cgroupLines(root string) []string {
	var lines []string
	for _, h := range dirEntries(root) {
		for _, c := range dirEntries(filepath.Join(root, h)) {
			if c == "docker" {
				continue
			}
			if fi, err := os.Stat(filepath.Join(root, h, c)); err == nil && fi.IsDir() {
				lines = append(lines, h+"/"+c)
			}
		}
	}
	return lines
}

// dirEntries returns the names in a directory; none when it does not exist.
func dirEntries(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// volatileSysctls change on their own, all the time.
var volatileSysctls = map[string]bool{
	"fs.dentry-state": true, "fs.file-nr": true, "fs.inode-nr": true, "fs.inode-state": true,
	"fs.aio-nr": true, "kernel.ns_last_pid": true, "kernel.pty.nr": true,
	"kernel.random.uuid": true, "kernel.random.entropy_avail": true,
	"net.netfilter.nf_conntrack_count": true,
}

// perInterface matches the sysctls of one network interface; those of an
// interface come and go with it, which the links section shows. The
// defaults and "all" are kept.
var perInterface = regexp.MustCompile(`^net\.ipv[46]\.(conf|neigh)\.([^.]+)\.`)

// sysctlLines reads every readable sysctl under root (/proc/sys) as
// key = value, but the volatile ones and those of single interfaces.
func sysctlLines(root string) []string {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil
	}
	defer r.Close()
	var lines []string
	_ = fs.WalkDir(r.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		key := strings.ReplaceAll(rel, "/", ".")
		if volatileSysctls[key] || strings.HasPrefix(key, "fs.quota.") {
			return nil
		}
		if m := perInterface.FindStringSubmatch(key); m != nil && m[2] != "all" && m[2] != "default" {
			return nil
		}
		if info, err := d.Info(); err != nil || info.Mode().Perm()&0o444 == 0 {
			return nil
		}
		b, err := r.ReadFile(rel)
		if err != nil {
			return nil // write-only or refused: nothing to compare
		}
		lines = append(lines, key+" = "+strings.Join(strings.Fields(string(b)), " "))
		return nil
	})
	return lines
}

// Where container runtimes, the kubelet and CNI leave directories: the
// entries right under these are recorded, and the other paths' existence.
var (
	watchedDirs  = []string{"run", "var/lib", "opt"}
	watchedPaths = []string{
		"etc/kubernetes", "etc/cni", "etc/containerd", "var/log/pods", "var/log/containers",
		"usr/libexec/kubernetes",
	}
)

func pathLines(root string) []string {
	var lines []string
	for _, d := range watchedDirs {
		for _, e := range dirEntries(filepath.Join(root, d)) {
			lines = append(lines, "/"+d+"/"+e)
		}
	}
	for _, p := range watchedPaths {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			lines = append(lines, "/"+p)
		}
	}
	return lines
}

// processLines lists the processes that are the cluster's: running a
// binary from BinDir, or naming StateDir on their command line (the
// containerd shims, which name the cluster's containerd socket).
func processLines(proc string, h Host) []string {
	var lines []string
	for _, pid := range dirEntries(proc) {
		if strings.Trim(pid, "0123456789") != "" || pid == strconv.Itoa(os.Getpid()) {
			continue
		}
		exe, _ := os.Readlink(filepath.Join(proc, pid, "exe"))
		cmdline, err := os.ReadFile(filepath.Join(proc, pid, "cmdline")) // #nosec G304 -- a /proc file
		if err != nil {
			continue
		}
		args := strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
		ours := (h.BinDir != "" && strings.HasPrefix(exe, h.BinDir+"/")) ||
			(h.StateDir != "" && strings.Contains(args, h.StateDir))
		if ours {
			lines = append(lines, args)
		}
	}
	return lines
}

// Change is one line of a section that is in one picture and not in the
// other.
type Change struct {
	Section string
	Line    string
	Added   bool // in the later picture only; else in the earlier only
}

func (c Change) String() string {
	sign := "-"
	if c.Added {
		sign = "+"
	}
	return sign + " " + c.Section + ": " + c.Line
}

// Compare returns what differs from before to after, section by section
// (a line counted as many times as it appears), sorted.
func Compare(before, after State) []Change {
	var changes []Change
	sections := map[string]bool{}
	for k := range before {
		sections[k] = true
	}
	for k := range after {
		sections[k] = true
	}
	for k := range sections {
		count := map[string]int{}
		for _, l := range before[k] {
			count[l]--
		}
		for _, l := range after[k] {
			count[l]++
		}
		for l, n := range count {
			for ; n > 0; n-- {
				changes = append(changes, Change{Section: k, Line: l, Added: true})
			}
			for ; n < 0; n++ {
				changes = append(changes, Change{Section: k, Line: l})
			}
		}
	}
	slices.SortFunc(changes, func(a, b Change) int {
		return strings.Compare(a.Section+"\x00"+a.Line, b.Section+"\x00"+b.Line)
	})
	return changes
}
