// Package pgtest runs a private PostgreSQL server for tests: its own data
// directory, its own port on 127.0.0.1, torn down when the test ends.
//
// Tests that mock the database never see what breaks services in
// production: a password that changes under a connection pool, a server
// that goes away in the middle of a request or hangs, a schema created
// twice. This
// package runs the real server binaries (Debian's postgresql package puts
// them in /usr/lib/postgresql/<version>/bin) so that tests can stop, kill,
// restart and reconfigure it. It needs no SQL driver: it only runs
// programs, and speaks SQL through psql.
//
// # Running as root
//
// PostgreSQL refuses to run as root, and CI containers run tests as root.
// When the test process is root, initdb and the server run as the
// unprivileged "postgres" user (or uid 65534 when there is none), in a
// temporary directory given to that user.
//
// # Authentication
//
// TCP connections authenticate with scram-sha-256, as in production, so
// that a wrong or rotated password fails the way it would there. The
// superuser is [SuperUser] with the password [SuperPassword]; psql, used by
// [Server.Exec] and [Server.Query], connects through the Unix socket in the
// temporary directory.
//
// # Usage
//
//	srv := pgtest.Start(t) // skipped (failed in CI) when PostgreSQL is not installed
//	srv.Exec(t, `CREATE ROLE app LOGIN PASSWORD 'secret'; CREATE DATABASE app OWNER app;`)
//	db, err := sql.Open("pgx", srv.DSN("app", "app", "secret"))
//	...
//	srv.Stop(t)   // fast shutdown: the database is "down"
//	srv.Start(t)  // same data, same port
//	srv.Freeze(t) // SIGSTOP to all its processes: a database that hangs
//	srv.Thaw(t)   // SIGCONT
package pgtest
