package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/afero"
)

// Target is a place for off-site copies: the directory Root() on the
// filesystem FS(). Package offsite keeps snapshots there in the layout of
// a local backup directory, so the code that lists, validates and prunes
// one through an afero.Fs runs unchanged on (t.FS(), t.Root()).
type Target interface {
	// FS is the target's filesystem; all snapshot I/O goes through it.
	// It may implement the optional capabilities Linker, PosixRenamer,
	// DirSyncer, SpaceReporter, StreamWriter, and those of object
	// storage (objectstore.go): ObjectStore, ServerCopier,
	// ChecksumReporter, RetentionLocker and ExclusiveCreator.
	FS() afero.Fs
	// Root is the directory in FS() that holds snapshots/.
	Root() string
	// URL is the target's address without secrets, for logs and reports:
	// "sftp://backup@host:2222/srv/atocore-offsite", "file:///mnt/offsite".
	URL() string
	// Close releases the connection, if any. The FS is unusable afterwards.
	Close() error
}

// Optional capabilities of a Target's FS(), in the style of io/fs: callers
// discover them with a type assertion and fall back when they are absent.
// A method may still return an error matching errors.ErrUnsupported when the
// capability depends on the far end (an SFTP server without the OpenSSH
// extension): treat that as absent too.

// Linker makes hard links: a file unchanged since the previous snapshot is
// linked instead of copied again. On SFTP it is server-side
// (hardlink@openssh.com), so no bytes cross the network.
type Linker interface {
	Link(oldname, newname string) error
}

// PosixRenamer renames with rename(2)'s semantics: an existing newname is
// replaced atomically. On SFTP it is posix-rename@openssh.com; the
// protocol's own rename refuses an existing target, so an SFTP FS's plain
// Rename replaces files only where the server offers the extension. Use it
// when a file must be replaced in one step.
type PosixRenamer interface {
	PosixRename(oldname, newname string) error
}

// DirSyncer fsyncs a directory, so that the names created, renamed or
// removed in it survive a power loss. Only local targets can.
type DirSyncer interface {
	SyncDir(name string) error
}

// SpaceReporter tells how many bytes are free for the caller on the
// filesystem that holds path (statvfs), so that a push can refuse to start
// rather than fill the disk halfway.
type SpaceReporter interface {
	FreeSpace(path string) (uint64, error)
}

// StreamWriter creates name (which must not exist) with perm, copies r into
// it as fast as the medium allows, makes it durable where it can and closes
// it. On error the partial file is removed (when the connection still
// allows: after a dropped SFTP connection it stays, under the temporary
// name the caller chose, for the next run to clean). It exists for SFTP, where a
// plain io.Copy sends one 32 KiB packet per round trip: see WriteFileFrom.
type StreamWriter interface {
	WriteFileFrom(name string, r io.Reader, perm os.FileMode) (int64, error)
}

// WriteFileFrom creates name on fsys (it must not exist: errors.Is(err,
// os.ErrExist) when it does) with perm, copies r into it, syncs and closes
// it, and returns the number of bytes written. It uses fsys's StreamWriter
// when there is one, else an ordinary create, copy and Sync. On error the
// partial file is removed: a failed concurrent upload can leave holes.
func WriteFileFrom(fsys afero.Fs, name string, r io.Reader, perm os.FileMode) (int64, error) {
	if sw, ok := fsys.(StreamWriter); ok {
		return sw.WriteFileFrom(name, r, perm)
	}
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fsys.Remove(name)
		return n, fmt.Errorf("write %s: %w", name, err)
	}
	return n, nil
}

// Options are what Open needs besides the URL to reach a target: the SSH
// fields for SFTP, the Object Lock fields for S3. Local targets ignore
// them.
type Options struct {
	// KnownHostsFile is the OpenSSH known_hosts file that must list the
	// server's host key; "" is the ssh config's UserKnownHostsFile, else
	// ~/.ssh/known_hosts (SFTPConfig.KnownHostsFile).
	KnownHostsFile string
	// KeyFile is the private key (unencrypted OpenSSH or PEM); "" is the
	// ssh config's IdentityFile, else the default keys (SFTPConfig.KeyFile).
	KeyFile string
	// SSHConfigFile is the OpenSSH client configuration: "" is
	// ~/.ssh/config when it exists, NoSSHConfig ("-") or "none" reads none.
	SSHConfigFile string
	// Home is the home directory ~ stands for; "" is the current user's
	// (SFTPConfig.Home).
	Home string
	// UseAgent authenticates with the keys of the agent at SSH_AUTH_SOCK.
	UseAgent bool
	// Create makes the target directory (0700) when it is missing. Its
	// parent must exist: a typo'd or unmounted parent is not filled with a
	// new tree. Push sets it; read-only commands and pull leave it false,
	// so that a missing target is a *NotFoundError and nothing is
	// created. An S3 bucket is never created (its Object Lock setting
	// can only be chosen when it is made): Create makes the key prefix.
	Create bool
	// ObjectLockDays > 0 writes every object of an S3 target under Object
	// Lock retention for that many days (the bucket must have Object Lock
	// enabled); a delete or overwrite of such an object then fails until
	// the date passes. Other targets refuse it. Every object means the
	// caller's scratch files too: package offsite, which rewrites its
	// journal and claim, locks with PushOptions.ObjectLock after upload
	// instead.
	ObjectLockDays int
	// ObjectLockMode is the retention mode: "governance" (the default) or
	// "compliance".
	ObjectLockMode string
}

// Open opens the target at rawURL: "sftp://user@host[:port]/abs/path",
// "file:///abs/path", a bare absolute path (a local directory), or
// "s3://bucket/prefix?endpoint=URL&region=R&profile=NAME" (OpenS3). A
// missing target directory (or key prefix) is a *NotFoundError unless
// o.Create is set; a missing bucket always is.
func Open(ctx context.Context, rawURL string, o Options) (Target, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != SchemeS3 && (o.ObjectLockDays != 0 || o.ObjectLockMode != "") {
		return nil, fmt.Errorf("target %s: object lock is for s3:// targets only", u)
	}
	switch u.Scheme {
	case SchemeS3:
		return OpenS3(ctx, S3Config{
			Bucket: u.Bucket, Prefix: u.Prefix(), Endpoint: u.Endpoint, Region: u.Region, Profile: u.Profile,
			Create: o.Create, ObjectLockDays: o.ObjectLockDays, ObjectLockMode: o.ObjectLockMode,
		})
	case SchemeFile:
		return openLocal(u.Path, o.Create)
	case SchemeSFTP:
		addr := u.Addr()
		if v, err := url.Parse(rawURL); err == nil && v.Port() == "" {
			addr = v.Hostname() // no port written: the ssh config's Port, else 22
			if strings.Contains(addr, ":") {
				addr = "[" + addr + "]"
			}
		}
		return DialSFTP(ctx, SFTPConfig{
			Addr:           addr,
			SSHConfigFile:  o.SSHConfigFile,
			Home:           o.Home,
			User:           u.User,
			Path:           u.Path,
			KnownHostsFile: o.KnownHostsFile,
			KeyFile:        o.KeyFile,
			UseAgent:       o.UseAgent,
			MustExist:      !o.Create,
		})
	}
	return nil, errors.New("target: unreachable scheme " + u.Scheme)
}
