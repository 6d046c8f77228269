// Package target is where off-site copies of snapshots live: a directory
// that holds snapshots/<STAMP>/ exactly as the local backup directory does,
// on a local disk, an SFTP server, or in memory for tests.
//
//	t, err := target.Open(ctx, "sftp://backup@vault:22/srv/atocore-offsite", target.Options{
//		KnownHostsFile: "/etc/atocore/known_hosts", // required: the host key is always verified
//		KeyFile:        "/etc/atocore/id_ed25519",
//	})
//	if err != nil { ... }
//	defer t.Close()
//	snaps, err := backup.ListDir(ctx, t.FS(), t.Root())
//
// A Target is an afero.Fs and a directory in it, so the code that lists,
// validates and prunes a local backup directory runs unchanged on a target.
// Filesystems that can do more than afero.Fs says (hard links, atomic
// replace, directory fsync, free space, fast streaming uploads) implement
// the optional interfaces Linker, PosixRenamer, DirSyncer, SpaceReporter
// and StreamWriter; callers discover them with a type assertion and fall
// back, as with io/fs.
//
// One file per backend: local.go, memory.go, sftp.go (connection, host
// keys in hostkey.go; the host, user, keys and jump hosts an address
// means, read from ~/.ssh/config as ssh reads it, in sshconfig.go,
// sshdial.go and sshauth.go) and sftpfs.go/sftpfile.go (the afero
// adapter). The
// conformance suite all of them pass is in target/targettest.
package target
