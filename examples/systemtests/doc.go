// Package systemtests is the root of the examples' system tests, a module
// of its own (github.com/prodready/prodready/examples/systemtests) beside
// the examples module they test, so that the examples stay the code a team
// copies and the harness around them lives apart. Its packages build
// catalog and orders from the examples module and run them for real:
//
//   - integration: the services as real processes against a private
//     PostgreSQL and an OTLP receiver, with real signals;
//   - hardening: slowloris, floods, frozen and killed database backends,
//     secret faults, leaks and a soak against the same processes;
//   - containers: the images in a real Docker engine (read-only, no
//     capabilities, a memory limit in a cgroup), and, without Docker,
//     examples/manifests, compose.yaml and the Dockerfile held to the code;
//   - kubernetes (build tag kubernetes): examples/manifests on a real
//     single-node cluster that scripts/kubernetes builds and starts;
//   - internal/e2e and internal/settings: the harness the others share
//     (processes, HTTP helpers; the settings each service reads, from its
//     source).
//
// The README's test command, ./scripts/test, runs them with the other
// modules (go.work names this one). Alone, from the repository root:
//
//	go test -race ./examples/systemtests/...
//
// They need PostgreSQL's server binaries, promtool, Docker and
// docker-compose (scripts/setup installs them); without them a test skips,
// and with CI=true it fails. The Kubernetes suite runs only through
// scripts/kubernetes test, as root.
package systemtests
