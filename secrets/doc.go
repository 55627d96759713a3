// Package secrets reads secrets from files and keeps them current as the
// files rotate, without a restart, and keeps them out of logs.
//
// Secrets reach containers as files: Kubernetes Secret volumes, Docker and
// Swarm /run/secrets, Vault Agent templates, the Secrets Store CSI driver.
// They rotate, and each writer replaces files its own way. Watching the
// file itself dies at the first Kubernetes update (the kubelet swaps a
// ..data symlink; the file is never written); filtering events by kind
// misses renames; reading on the first event publishes a half-written
// value; a file watch lost with its directory is never re-armed; network
// file systems send no events at all. This package handles all of them
// and, whatever happens to the file, serves the last good value.
//
// # Files
//
// Watch reads a file and keeps it current. Value is lock-free and does not
// allocate, so it can be called on every request or connection:
//
//	pw, err := secrets.Watch(ctx, "/run/secrets/db-password", secrets.TrimNewline(true))
//	if err != nil {
//		return err
//	}
//	defer pw.Close()
//	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
//		cc.Password = pw.Value().Reveal() // new connections use the current password
//		return nil
//	}
//	checker.AddReadiness("db-password", pw.Check, health.Critical(false))
//
// # How changes are seen
//
// The file's directory is watched, with one fsnotify watcher shared by the
// whole process (inotify instances are a limited resource), and every event
// in it is only a hint. After Debounce of quiet (100ms by default, but at
// most a second after the first event, so a file that never stops changing
// is still read), the file is read until two reads agree. The new value is
// published only when its bytes differ (SHA-256), it is not empty and it
// passes Validate; anything else keeps the last good value and records the
// error for Check, Stats and the Logger. Polling (every 10s by default)
// catches what events miss: file systems with none, a lost watch, an
// overflowed queue. A directory removed and created again, or made
// unreadable and repaired, is found by watching its nearest ancestor that
// can be watched meanwhile.
//
// Only regular files are read, opened so that a FIFO cannot block, and no
// larger than MaxSize (1 MiB by default).
//
// # Subscribers
//
// Subscribe runs a callback for each new value, in order, one at a time,
// each subscriber on a goroutine of its own: a slow or panicking subscriber
// delays no other, and one that falls behind gets the latest value.
//
// # Secret never prints
//
// Secret prints as [REDACTED] through fmt (every verb), encoding/json,
// encoding.TextMarshaler, log/slog and zap. Reveal is the one way to the
// content.
//
// # TLS certificates
//
// NewCertificate keeps a key pair current for tls.Config:
//
//	cert, err := secrets.NewCertificate(ctx, "/etc/tls/tls.crt", "/etc/tls/tls.key")
//	if err != nil {
//		return err
//	}
//	srv.TLSConfig = &tls.Config{GetCertificate: cert.GetCertificate}
//
// New handshakes get the new pair as soon as it loads; a pair that does not
// match or parse keeps the old one. NotAfter tells when the current
// certificate expires, for an alert.
//
// # Lifecycle
//
// A watch stops when the context given to Watch or NewCertificate ends or
// when Close is called; Close waits for its goroutines. Kubernetes delivers
// rotated Secrets to pods after the kubelet's sync period (about a minute),
// so old and new credentials must both work for that long: rotate with an
// overlap.
package secrets
