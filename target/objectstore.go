package target

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// ObjectStore is the capability of object storage (S3 and its kin): a
// file appears whole, or not at all, when its upload completes, and a
// rename is a copy and a delete, one file at a time, so a directory
// cannot be renamed in one step. Callers that need a group of files to
// appear complete write its last file last instead of renaming the
// group; package offsite places a snapshot file by file, its statement
// last. ObjectStore reports false for a wrapper around a filesystem that
// renames directories atomically.
type ObjectStore interface {
	ObjectStore() bool
}

// IsObjectStore reports whether fsys is object storage (ObjectStore).
func IsObjectStore(fsys any) bool {
	o, ok := fsys.(ObjectStore)
	return ok && o.ObjectStore()
}

// ServerCopier copies a file on the server (S3 CopyObject): no bytes
// cross the network. dst must not exist.
type ServerCopier interface {
	CopyFile(src, dst string) error
}

// RetentionLocker keeps objects from deletion and overwrite until a date
// (S3 Object Lock retention). Mode is "governance" or "compliance".
// Retention of an object under no retention returns a zero time.
type RetentionLocker interface {
	SetRetention(name, mode string, until time.Time) error
	Retention(name string) (mode string, until time.Time, err error)
}

// ChecksumReporter tells the SHA-256 checksum the server computed and
// keeps for a file, so that a target can be verified without downloading
// it. For a file uploaded in one request, sum is the SHA-256 of its bytes
// and parts is 0. For one uploaded in parts (an S3 multipart upload),
// parts is their number and sum the composite checksum: the SHA-256 of
// the concatenated binary SHA-256 digests of the parts, in order.
// CompositeSHA256 recomputes either from the bytes, given the part size
// the uploads use (S3PartSize for the S3 target).
type ChecksumReporter interface {
	StoredSHA256(name string) (sum []byte, parts int, err error)
}

// ExclusiveCreator tells whether an exclusive create (O_EXCL) is atomic
// on the far end, for a backend where that depends on the server (an S3
// server without conditional writes). Where it says false, a claim made
// by exclusive create is not exclusive: two hosts can both take it.
// Backends without the method are atomic where the conformance suite's
// CreateExclusive passes.
type ExclusiveCreator interface {
	ExclusiveCreate() bool
}

// TreeLister lists every file below a directory in one pass (object
// storage: one LIST request per 1,000 keys, where a walk asks for each
// file and directory alone). fn gets each file's name relative to dir,
// with slashes, as the server has it (a hostile server may send names
// such as "../x": callers check them), and its size; directories are not
// passed. A missing dir lists nothing. fn returning fs.SkipAll stops the
// listing without an error.
type TreeLister interface {
	ListTree(dir string, fn func(rel string, info fs.FileInfo) error) error
}

// PartResumer is the capability of a target whose large files are
// uploaded in parts that outlive a cut-off upload (S3 multipart uploads):
// a later process continues the upload, and sends only the parts the
// server does not already hold with the same SHA-256. The bytes must be
// the same as the first attempt's for a part to be kept; an encrypted
// file is, when it is encrypted again under the same key and nonce
// (encrypt.FileKey).
type PartResumer interface {
	// WriteFileResumable writes r to the new file name as
	// StreamWriter.WriteFileFrom does (os.ErrExist if it exists at the
	// end), continuing the upload up ("" starts one). started is called
	// with the upload's identity as soon as it has one, before its first
	// part is sent, for the caller to record durably. A failed upload is
	// left for a later one to continue (or for AbortUpload). kept is how
	// many of the n bytes were parts already on the server, not sent.
	WriteFileResumable(name string, r io.Reader, perm os.FileMode, up string, started func(up string) error) (n, kept int64, err error)
	// AbortUpload ends the upload up of name, which will not be
	// continued, so that its parts are not kept (nor billed).
	AbortUpload(name, up string) error
}

// ErrPartsDiffer is matched when WriteFileResumable finds that a part the
// upload holds is not the part it would send (the same number and size,
// another SHA-256): the bytes are not those of the attempt that sent it.
// Nothing of that part is sent; the caller aborts the upload rather than
// continue it (an encrypted file would otherwise have two different
// plaintexts under one key).
var ErrPartsDiffer = errors.New("a part the upload holds differs from the one to send: the file is not the one the upload was started with")
