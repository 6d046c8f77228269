// Package validate checks that a snapshot is complete and sound before
// anyone relies on it: its metadata parses, its database and Chroma's
// chroma.sqlite3 pass PRAGMA integrity_check, its registry is JSON, and
// every file matches manifest.json (size and SHA-256; nothing missing,
// nothing stray).
//
// Each failure is one string that starts with a code (the Code constants),
// optionally followed by ": detail". A snapshot is valid when there are none.
//
//	res, err := validate.Snapshot(ctx, afero.NewOsFs(), "/srv/atocore/backups", "20260407T060000Z")
//	if err != nil { ... }        // malformed stamp or cancelled
//	if !res.Valid { ... }        // res.Errors say why
//
// The snapshot is read through an afero.Fs, so the same checks run on the
// local backup directory, an in-memory filesystem in tests, and an off-site
// target.
package validate
