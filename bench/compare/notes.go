package main

import (
	"fmt"
	"slices"
)

// methodNotes say how every figure of the report is obtained and where it
// is approximate. They go into results.json and results.md.
var methodNotes = []string{
	"Order: within each operation the tools run one after the other, in an order rotated by run/2 and reversed on odd runs, so that drift on the machine hits all of them. Before every timed command, untimed: a sync (nobody pays for another's write-back), then the page cache is emptied (drop_caches, when run as root) and filled again by reading the live root and what the command reads or writes in place (its repository or snapshots, the copy a restore writes over): every command starts warm (as on a server where the data is in use) and none pays for reclaiming the pages another tool filled.",
	"Phases: each run has a local phase (full backup, change, incremental, check, restore) and a push phase (push full, change, push incremental), each with fresh repositories, copies and remote directories. The change step is bench/change -chroma 0.01 -rows 0.01 (1% of the Chroma bytes, whole segments first, and 1% of the database rows), followed by a 1.1 s wait (ours copies files modified within the second before a snapshot starts). It runs once per phase, before that phase's incrementals, so all tools of a phase back up the same content; the push phase has its own so that the local repositories are deleted before the remote copies are made, and each tool's remote copy is deleted after its push incremental (peak disk about 7x the data size instead of 10.5x).",
	"ours: atocore-backup create --include-chroma (validation included) into ROOT/backups; check = validate STAMP; restore = restore STAMP --confirm-service-stopped --no-pre-snapshot of the latest snapshot over a scratch copy of the live paths (--db-path, --registry-path, --chroma-path point into it, so ours warns that the paths differ from the snapshot's source); push = push to a fresh sftp:// directory, age-encrypted to a throwaway X25519 recipient. The push phase's snapshots are made untimed.",
	"sqlite3+cp: sqlite3 DB \".backup OUT/atocore.db\" && cp -a REGISTRY CHROMA OUT/ && sync. It has no incremental: its incremental is another full copy into a new directory. Check = PRAGMA integrity_check + openssl dgst -sha256 of every file (there are no stored digests to compare with). Restore = remove the old WAL sidecars and Chroma directory, cp -a back over a scratch copy of the live paths, sync, integrity_check.",
	"restic and borg back up ROOT/data and ROOT/config, copying the live SQLite file as it is: not crash-consistent on a running server (ours copies the database under one SQLite read transaction and replays its -wal, sqlite3+cp uses SQLite's online backup); fine here, where nothing writes during a backup. restic: repository format 2 (compression auto), check --read-data, restore latest into an empty directory. borg: repokey-blake2 with the default lz4 compression, check --verify-data, extract into an empty directory. Repository init is untimed. Their push full/incremental are backups into an sftp: repository (restic, through ssh -s sftp) or an ssh:// repository served by borg serve, on the loopback sshd.",
	"rsync: rsync -aH -e ssh of ours' snapshots directory to a fresh remote directory, plaintext at rest (ours' push is age-encrypted). The incremental runs once the directory holds the second snapshot: -H recreates the unchanged Chroma files as hardlinks instead of sending them; the new database copy is a new file, sent whole.",
	"The loopback sshd (OpenSSH, throwaway keys, internal-sftp) sets SHLVL=1 in its sessions so that the user's login shell does not read ~/.bashrc: on the development machine that file costs about a second per connection, which would be charged to rsync and borg (their remote side starts through the shell) and not to sftp clients. The server shares the machine with the clients: loopback has no network latency or bandwidth limit, so push times are a lower bound.",
	"Restores: every tool restores its latest backup (the incremental, or the full when no incremental ran), which all hold the root as it is after the change step; each restored tree is checked untimed against the live root's file names and sizes.",
	"Wall time: from start to exit of the client command. Peak RSS: ru_maxrss from wait4, for a pipeline (sh -c) the largest single process among those waited for. It is never below compare's own peak (about 15 MiB): Linux charges a child, at exec, with the memory of the process it was started from, which for a Go parent is its own (CLONE_VM). Most of sqlite3+cp's figure is that floor. CPU s: user + system time of the command and its waited-for descendants (ssh included). Server-side processes (sshd, internal-sftp, the remote rsync, borg serve) are in neither; their CPU time is the server CPU s column (growth of sshd's cutime + cstime, 10 ms resolution).",
	"Bytes written: growth of the disk usage (st_blocks x 512, a hardlinked inode counted once) of the destination: ours' backup directory (and, for push, the remote directory), the copy directory, the repository plus its cache or base directory, the remote directory, the restore target. A restore over an existing copy (ours, sqlite3+cp) replaces files, so its growth is about 0; disk writes MiB is what the client processes wrote (rusage ru_oublock x 512: page-cache writes when made, server side excluded).",
	"Bytes sent: bytes from client to server through an in-process TCP proxy between every client and the loopback sshd (SSH framing and encryption included), measured the same way for every tool; ours' own bytes_sent (payload) is reported_sent_bytes in results.json.",
	"Ratios: ours ÷ tool is ours' median wall time divided by the tool's (below 1: ours is faster); tool ÷ ours is the inverse (above 1: ours is faster). Medians are over the successful runs; peak RSS is the largest of them.",
	"Shapes: each shape is a root of its own from bench/gen -shape, with its own tables: random (random UUID keys and an index b-tree per table, chunks of 200-1,000 characters, 20 equal segments, a small chroma.sqlite3), text (integer keys, documents with their full text, chunks of 350-1,100 characters each with a 1,536-byte embedding, 5 secondary indexes, ANALYZE; chroma.sqlite3 about a tenth of the Chroma budget, segments of about 42 MiB whose number grows with the size), many (300 Chroma collections, nine in ten under 1 MiB, beside a database of the random shape).",
	"CPU %: (user + system) ÷ wall × 100 of the command and the children it waited for, the median of the runs' own ratios: 100 is one core busy for the whole command, and the machine has 100 × its cores.",
}

// s3Notes say what each tool does in the S3 operations (issue 18); they
// are added when the run had S3 operations.
var s3Notes = []string{
	"S3 server: versitygw (posix backend, --keep-alive: S3 services keep connections open, and without it versitygw closes each after one request) on a free 127.0.0.1 port with its own directory under the work directory, root credentials from its environment, stopped by PID at exit. Each tool gets a fresh bucket per run (a fresh top-level directory, which the posix backend serves as a bucket: no request to count); each bucket is removed after the tool's incremental. Every client and versitygw run without AWS_CA_BUNDLE (set on the project's machines, it breaks plain-HTTP endpoints), AWS_PROFILE, AWS_SESSION_TOKEN and AWS_ENDPOINT_URL*.",
	"S3 counting: every client talks to an in-process TCP proxy in front of versitygw that counts the bytes each way (request line, headers and bodies, chunk framing included) and reads a copy of the client-to-server stream as HTTP/1.1 requests, counted by method; a PUT with x-amz-copy-source (CopyObject, UploadPartCopy) is a COPY, not a PUT. Requests in the S3 table are medians of each kind separately. Server CPU s is the growth of versitygw's own utime + stime (/proc/PID/stat).",
	"S3 ours: atocore-backup push --target 's3://BUCKET/atocore?endpoint=http://PROXY&region=us-east-1' --recipient (a throwaway X25519 recipient) --signing-key (a throwaway Ed25519 key), with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION in its environment and AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE pointing at an empty file; its source is ours' snapshot directory (made untimed), as for the SFTP push. Its incremental pushes the second snapshot after the change step: the goal is that only the changed files cross the wire (the database whole) and every unchanged file is a server-side copy.",
	"S3 restic: restic -r s3:http://PROXY/BUCKET/restic backup ROOT/data ROOT/config with the same AWS_* environment (repository init untimed, its own cache directory); the incremental is a second backup into the same repository (content-defined dedupe: it sends the changed chunks only).",
	"S3 rclone: rclone copy of ours' plaintext snapshot directory to BUCKET/rclone/STAMP through rclone's S3 backend, configured by the environment only (RCLONE_CONFIG_S3BENCH_TYPE=s3, _PROVIDER=Other, _ENDPOINT, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION; RCLONE_CONFIG an empty file), defaults otherwise. Its incremental copies the second snapshot's directory to its own prefix: plain rclone copy, what an operator would run, has no dedupe across directories, so it uploads every file again (it could be told to with --copy-dest or server-side copies, which is not what plain copy does).",
	"S3 goals (issue 18): ours ÷ restic full push ≤ 1; ours ÷ rclone full push ≤ 1.25; ours' incremental bytes sent (through the proxy) ÷ the bytes of the files of the second snapshot that are not in the first at the same path with the same content (inode or byte comparison, untimed) ≤ 1.05, which leaves room for age's 16 bytes per 64 KiB, request headers and the signed statement; ours' incremental requests ÷ its full push's requests < 5%; ours' peak RSS < 150 MiB. Ratios are taken run by run (the median of the runs' ratios is the value), the RSS goal on the largest run.",
}

// notes returns the method notes and what is particular to this run.
func notes(res *results) []string {
	n := append([]string{}, methodNotes...)
	if slices.ContainsFunc(res.Config.Ops, op.s3) {
		n = append(n, s3Notes...)
	}
	if res.Interrupted {
		n = append(n, "The run was interrupted: some operations have fewer runs than asked.")
	}
	if len(res.Config.SizesMiB) > 0 && res.Machine.MemoryMiB > 0 {
		largest := res.Config.SizesMiB[len(res.Config.SizesMiB)-1]
		if int64(4*2*largest) > res.Machine.MemoryMiB {
			n = append(n, fmt.Sprintf("At %d MiB the files in use at once (about %d MiB) exceed the %d MiB of memory: the page cache was not entirely warm.", largest, 4*2*largest, res.Machine.MemoryMiB))
		}
	}
	return n
}
