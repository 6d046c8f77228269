// Package durable writes files so that a crash leaves either the old
// content or the new, never a torn mix: write to a temporary name in the
// same directory, fsync, rename, fsync the directory. It also copies files
// while hashing them, so a snapshot's digests cost no second read.
//
// Everything goes through an afero.Fs; OSPath recovers the real path of an
// operating-system filesystem for the few callers (SQLite) that need one.
package durable
