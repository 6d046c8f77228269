package validate

import (
	"fmt"
	"strings"
)

// Validation codes: the first word of every string in Result.Errors or
// Result.Warnings. They are a contract (SPEC.md) that scripts match on.
const (
	CodeSnapshotMissing = "snapshot_missing"
	CodeMetadataMissing = "metadata_missing"
	CodeMetadataInvalid = "metadata_invalid_json"
	CodeDBMissing       = "db_missing"
	// CodeDBIntegrity: PRAGMA integrity_check is not "ok", or the file is
	// not a SQLite database.
	CodeDBIntegrity     = "db_integrity_check_failed"
	CodeRegistryInvalid = "registry_invalid_json"
	// CodeChromaMissing: the metadata says Chroma was included and the
	// directory is not there.
	CodeChromaMissing   = "chroma_snapshot_missing"
	CodeChromaIntegrity = "chroma_integrity_check_failed"
	// CodeChromaSegmentMissing: a vector segment that chroma.sqlite3 says
	// holds persisted vectors has no directory, or its directory lacks
	// index files.
	CodeChromaSegmentMissing = "chroma_segment_missing"
	// CodeChromaSegmentCorrupt: a segment's header.bin disagrees with the
	// collection's dimension or with its files' sizes.
	CodeChromaSegmentCorrupt = "chroma_segment_corrupt"
	// CodeManifestMismatch: a file's size or SHA-256 differs from
	// manifest.json, a listed file is missing, or an unlisted file is present.
	CodeManifestMismatch = "manifest_mismatch"

	// Warnings.

	// CodeManifestMissing: no manifest.json, as in snapshots made by the
	// earlier Python implementation; digests cannot be checked.
	CodeManifestMissing = "manifest_missing"
	// CodeStampMismatch: the metadata's stamp is not the directory's name.
	CodeStampMismatch = "metadata_stamp_mismatch"
	// CodeChromaSegmentOrphan: a directory in the Chroma copy that belongs
	// to no segment. Chroma leaves these behind itself when collections are
	// deleted; they are harmless.
	CodeChromaSegmentOrphan = "chroma_segment_orphan"
)

// codeOrder sorts findings: the order of the checks, then by detail.
var codeOrder = map[string]int{
	CodeSnapshotMissing: 0, CodeMetadataMissing: 1, CodeMetadataInvalid: 2, CodeDBMissing: 3,
	CodeDBIntegrity: 4, CodeRegistryInvalid: 5, CodeChromaMissing: 6, CodeChromaIntegrity: 7,
	CodeChromaSegmentMissing: 8, CodeChromaSegmentCorrupt: 9, CodeManifestMismatch: 10,
	CodeManifestMissing: 11, CodeStampMismatch: 12, CodeChromaSegmentOrphan: 13,
}

func finding(code, format string, args ...any) string {
	if format == "" {
		return code
	}
	return code + ": " + fmt.Sprintf(format, args...)
}

// CodeOf returns the code a finding starts with.
func CodeOf(finding string) string {
	code, _, _ := strings.Cut(finding, ":")
	return code
}
