// Package offsite copies snapshots between the local backup directory and
// a target.Target (storage that knows nothing of snapshots: a local disk,
// an SFTP host, memory in tests), optionally age-encrypted and always
// signed when a key is given. It replaces "rsync the snapshots to another
// host". Push, Pull, List, Validate, Prune and Drill take the Target; the
// engine underneath works on its afero.Fs and root (Remote).
//
// Push copies the local snapshots the target lacks. Each is uploaded into
// the pushing host's own .incoming-<STAMP>.<HOLDER-ID>/ on the target
// (each file as NAME.part, renamed when complete and synced, and
// journaled), checked, and renamed into snapshots/<STAMP>/: a remote
// snapshot appears only when complete, and is one host's. An
// interrupted push resumes from the journal without re-sending finished
// files. Files unchanged since the previously pushed snapshot (same
// plaintext digest, same keys) are hardlinked on the server instead of sent.
//
// Encrypted, every file is stored as its own age file (NAME.age) that
// `age -d` opens alone, and remote-manifest.json lists the ciphertext
// digests, so the target's integrity is checkable without the key. Pull
// fetches (and decrypts) a snapshot into the local backup directory, where
// it validates and restores like any other.
package offsite
