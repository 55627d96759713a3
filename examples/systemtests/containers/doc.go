// Package containers holds the tests that hold the examples' deployment
// files to the code and run the images in a real Docker engine. It has no
// code of its own.
//
// # What is checked
//
// Without Docker: every Kubernetes manifest in examples/manifests, the compose
// file and the Dockerfile agree with the services' code: the environment
// variables they set are ones the code reads, ports and probe paths are
// the ones it serves, the grace period is above the shutdown budget, and
// the hardening (non-root, read-only root filesystem, no capabilities, no
// privilege escalation, seccomp, resource limits, the password as a file
// from a volume) is in place. `docker-compose config` (or `docker compose
// config`) must accept the compose file.
//
// With Docker: both images build (scripts/docker-images makes the base
// images from this machine's Go toolchain, so no registry is needed); the
// runtime image is under 30 MB and has nothing in it but the binary and CA
// roots; catalog run with the production flags becomes healthy, runs as
// 65532 with no capabilities, logs JSON with the memory limit taken from
// the container's; SIGTERM during a slow request lets it finish; orders
// picks up a rotated password file without a restart; and an order
// through orders reaches catalog by name on a private network, with one
// correlation ID in both services' logs.
//
// In CI (CI=true) a missing Docker engine fails these tests instead of
// skipping them.
package containers
