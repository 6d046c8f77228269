package target_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/target"
)

// A target is a filesystem and a directory in it: the code that lists a
// local backup directory lists a target.
func ExampleMemory() {
	ctx := context.Background()
	tgt := target.Memory()
	defer tgt.Close()
	fsys, root := tgt.FS(), tgt.Root()

	dir := path.Join(root, "snapshots", "20260407T060000Z")
	_ = fsys.MkdirAll(dir, 0o700)
	_, _ = target.WriteFileFrom(fsys, path.Join(dir, "backup-metadata.json"),
		strings.NewReader(`{"stamp":"20260407T060000Z","kind":"scheduled"}`), 0o600)

	snaps, _ := backup.ListDir(ctx, fsys, root)
	for _, s := range snaps {
		fmt.Println(tgt.URL(), s.Stamp, s.Kind())
	}
	// Output: mem:// 20260407T060000Z scheduled
}

// Open takes the address an operator writes; SFTP needs known_hosts.
func ExampleOpen() {
	_, err := target.Open(context.Background(), "sftp://backup@vault.example:2222/srv/atocore-offsite",
		target.Options{KnownHostsFile: "/nonexistent/known_hosts", SSHConfigFile: target.NoSSHConfig})
	fmt.Println(err)
	_, err = target.Open(context.Background(), "sftp://backup:s3cret@vault.example/srv", target.Options{})
	fmt.Println(err)
	// Output:
	// sftp vault.example:2222: known_hosts file /nonexistent/known_hosts (--known-hosts): stat /nonexistent/known_hosts: no such file or directory; create it with the server's verified key, e.g. ssh-keyscan -p 2222 vault.example >> /nonexistent/known_hosts, then check the fingerprints with the server's administrator
	// target "sftp://backup:xxxxx@vault.example/srv": passwords in URLs are not accepted: authenticate with a key file or an SSH agent; accepted forms: sftp://USER@HOST[:PORT]/ABS/PATH, file:///ABS/PATH, /ABS/PATH, s3://BUCKET[/PREFIX][?endpoint=URL&region=R&profile=NAME]
}

// Optional capabilities are discovered by type assertion, with a fallback.
func ExampleLinker() {
	dir, _ := os.MkdirTemp("", "offsite")
	defer os.RemoveAll(dir)
	tgt, _ := target.Local(dir)
	fsys := tgt.FS()
	_, _ = target.WriteFileFrom(fsys, "/a", strings.NewReader("unchanged chroma segment"), 0o600)
	if l, ok := fsys.(target.Linker); ok && l.Link("/a", "/b") == nil {
		fmt.Println("linked, no bytes copied")
	} else {
		fmt.Println("copy instead")
	}
	// Output: linked, no bytes copied
}
