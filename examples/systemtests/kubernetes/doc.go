// Package kubernetes is the harness behind scripts/kubernetes, which runs
// the manifests of examples/manifests on a real single-node Kubernetes built
// from source, and the end-to-end suite that checks them there.
//
// # Leaving the host as it was found
//
// A cluster on a shared machine touches the host: iptables chains of
// kube-proxy, the kubelet and the CNI firewall plugin (and the nf_tables
// tables iptables-nft creates for them), a bridge and its routes, network
// namespaces, mounts, kubepods cgroups, sysctls the kubelet sets,
// directories under /run and /var/lib. [Record] takes a picture of all of
// that before the cluster starts; after tear-down [Compare] says whether
// the host is back to it, line by line. Docker's own state (its chains,
// bridges, veths, mounts and cgroups, which other work on the machine
// changes at any time) is left out of the picture. [Leftovers] lists what
// a previous cluster left behind, so that a new one refuses to start on
// top of it, and [Restore] removes it.
//
// # Changing only the image tags
//
// [WriteOverlay] writes a kustomize overlay that takes examples/manifests
// unchanged and sets nothing but the tags of its images, so that what runs
// in the cluster is what users copy.
//
// # The suite
//
// The end-to-end tests need a cluster and are behind the build tag
// kubernetes: scripts/kubernetes test builds what is missing, brings the
// cluster up, runs them and tears down. The tests of the harness itself
// (parsing, comparing, the overlay) need no cluster and run with the rest.
//
// # Usage
//
//	before, err := kubernetes.Record(ctx, kubernetes.Host{StateDir: state, BinDir: bin})
//	// ... the cluster runs and is torn down ...
//	after, err := kubernetes.Record(ctx, kubernetes.Host{StateDir: state, BinDir: bin})
//	if diff := kubernetes.Compare(before, after); len(diff) > 0 {
//		fmt.Print(diff)
//	}
package kubernetes
