// Package target is storage for off-site copies: a directory on a local
// disk, an SFTP server, an S3 bucket (AWS or S3-compatible), or memory
// for tests, reached through an afero.Fs. It knows storage and nothing of
// snapshots: package offsite lays snapshots out on a Target
// (snapshots/<STAMP>/ as in a local backup directory), encrypts, signs,
// pushes, pulls and prunes them.
//
//	t, err := target.Open(ctx, "sftp://backup@vault:22/srv/atocore-offsite", target.Options{
//		KnownHostsFile: "/etc/atocore/known_hosts", // required: the host key is always verified
//		KeyFile:        "/etc/atocore/id_ed25519",
//	})
//	if err != nil { ... }
//	defer t.Close()
//	res, err := offsite.Push(ctx, cfg, t, offsite.PushOptions{...})
//
// An S3 target takes its credentials from the AWS environment, shared
// files or a profile, never from the address:
//
//	t, err := target.Open(ctx, "s3://atocore-offsite/prod?region=eu-west-3", target.Options{Create: true})
//
// Filesystems that can do more than afero.Fs says (hard links, atomic
// replace, directory fsync, free space, fast streaming uploads) implement
// the optional interfaces Linker, PosixRenamer, DirSyncer, SpaceReporter
// and StreamWriter, each declared once in target.go; callers discover them
// with a type assertion and fall back, as with io/fs. Every backend pins
// the ones it has with `var _ target.X = (*T)(nil)`.
//
// One file per backend: local.go, memory.go, sftp.go (connection, host
// keys in hostkey.go; the host, user, keys and jump hosts an address
// means, read from ~/.ssh/config as ssh reads it, in sshconfig.go,
// sshdial.go and sshauth.go) and sftpfs.go/sftpfile.go (the afero
// adapter); s3.go (OpenS3: credentials from the AWS chain, the bucket and
// prefix checks), s3url.go, and the afero adapter over a bucket in
// s3fs.go, s3file.go (reads, listings), s3upload.go (multipart uploads of
// bounded memory), s3spool.go, s3objects.go (deletions, copies, errors),
// s3checksum.go (stored checksums, server-side copy, Object Lock) and
// s3probe.go. The capabilities only object storage has are declared in
// objectstore.go. The conformance suite all of them pass, each held to the
// capabilities it declares, is in target/targettest.
package target
