// Package hardening holds the tests that the example services hold up
// under what production throws at them, as real processes (the harness of
// internal/e2e):
//
//   - slowloris: 200 connections that send their headers a byte a second
//     neither delay a normal client nor outlive the header timeout;
//   - connection cap: catalog under prlimit --nofile=256 with 300 idle
//     keep-alive connections and then its cap full of requests in
//     flight: /livez on the admin port answers within a second all
//     along, and a new connection at the cap gets a prompt 503;
//   - flood: 20,000 requests with random methods, paths and header values
//     against catalog leave its memory and its metrics series bounded,
//     every answer valid HTTP, and no error in its log;
//   - secret leaks: orders, with debug logging, through start, two
//     password rotations, an admin token rotation, failed reloads and
//     shutdown: no password or token value in any log line, metrics
//     scrape or health body;
//   - admin token rotation: the token file updated the way the kubelet
//     updates a Secret switches which token both services accept, without
//     a restart; a bad token file keeps the last good token and warns;
//   - faults: a password file turned to garbage, a directory, or removed
//     keeps the last good password, reported by the check and the log;
//     Postgres killed under load gives clean JSON 503s with the request's
//     correlation ID, and orders recovers when it returns; Postgres frozen
//     with SIGSTOP under load gets every request a JSON 504 or 503 within
//     its deadline plus a second, and the pool back on SIGCONT with no
//     goroutine left behind;
//   - soak: mixed traffic with password rotations and readiness flaps;
//     goroutines and heap come back to their starting band.
//
// Run them with
//
//	go test -race ./examples/systemtests/hardening/
//
// With -race the slowloris, secret-leak and fault tests run race-built
// services; flood and soak run services built without it whatever the
// flags, because they measure memory and the race detector multiplies it
// (and slows 20,000 requests several times over). They need PostgreSQL's
// server binaries; without them they skip, and in CI (CI=true) they fail.
package hardening
