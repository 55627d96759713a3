// Package integration holds the end-to-end tests of the example services:
// catalog and orders built and run as real processes, against a private
// PostgreSQL (internal/pgtest) and an OTLP receiver (internal/otlptest),
// with real signals. Run them with
//
//	go test -race ./examples/systemtests/integration/
//
// They need PostgreSQL's server binaries (Debian's postgresql package) and
// promtool (Debian's prometheus package); without them they skip, and in
// CI (CI=true) they fail.
package integration
