package snapshot

import "path/filepath"

// Names of the parts of a backup directory and of a snapshot. Paths inside a
// snapshot are slash-separated and relative to the snapshot directory, as
// they appear in manifest.json.
const (
	// SnapshotsDir is the directory, inside a backup directory, that holds
	// one complete snapshot per stamp.
	SnapshotsDir = "snapshots"
	// MetadataFile describes the snapshot (see Metadata).
	MetadataFile = "backup-metadata.json"
	// ManifestFile lists every other file of the snapshot with its digest.
	ManifestFile = "manifest.json"
	// DBFile is the copy of the AtoCore database.
	DBFile = "db/atocore.db"
	// RegistryFile is the copy of the project registry, when it existed.
	RegistryFile = "config/project-registry.json"
	// ChromaDir is the copy of the Chroma directory, when it was included.
	ChromaDir = "chroma"
	// ChromaDBName is the SQLite file inside a Chroma directory.
	ChromaDBName = "chroma.sqlite3"

	// StagingPrefix starts the name of a snapshot being built, inside the
	// backup directory. Such a directory is never read as a snapshot and
	// is removed by the next run when a crash leaves it behind.
	StagingPrefix = ".staging-"
	// TrashPrefix starts the name of a snapshot being deleted, inside the
	// backup directory: prune moves a snapshot here before deleting it, so
	// that a crash never leaves half a snapshot under a valid stamp.
	TrashPrefix = ".trash-"
	// FailedDir holds snapshots whose validation failed at creation, kept
	// for inspection and never listed as snapshots.
	FailedDir = "failed"
	// ReplicaDir holds the replication chains (replica package), one
	// directory per base snapshot.
	ReplicaDir = "replica"
	// LockFile is the advisory lock of a backup directory.
	LockFile = ".lock"
	// ChromaRestoreStaging is the directory, inside a live Chroma
	// directory, where restore stages the snapshot's files before swapping
	// them in. Backups never copy it.
	ChromaRestoreStaging = ".atocore-restore"
)

// Dir returns the directory of the snapshot stamp inside backupDir. The
// stamp must already be checked with ParseStamp.
func Dir(backupDir, stamp string) string {
	return filepath.Join(backupDir, SnapshotsDir, stamp)
}
