// Package sqlitedb holds the few SQLite operations atocore-backup needs, on
// real files through modernc.org/sqlite (no cgo): a consistent online copy
// of a database that other processes keep writing, PRAGMA integrity_check,
// journal-mode changes, a WAL checkpoint, and removal of stale sidecars.
package sqlitedb
