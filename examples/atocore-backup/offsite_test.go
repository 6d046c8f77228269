package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// The disaster-recovery path through the CLI: push encrypted to a target,
// then on an empty machine pull with the identity and restore.
func TestPushPullRestoreEncrypted(t *testing.T) {
	r := testutil.Root(t)
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(idFile, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tgtDir := t.TempDir()
	tgt := "--target=file://" + tgtDir
	meta := cli(t, nil, "create", "--include-chroma", "--root", r.Dir).want(t, 0).json(t)
	stamp := meta["stamp"].(string)

	cli(t, nil, "push", tgt, "--recipient", rcpt, "--root", r.Dir).want(t, 2) // no signing key
	keyFile, allowed := signingKey(t)
	push := cli(t, []string{"ATOCORE_SIGNING_KEY=" + keyFile}, "push", tgt, "--recipient", rcpt, "--root", r.Dir).want(t, 0).json(t)
	if len(push["pushed"].([]any)) != 1 || push["target"] != "file://"+tgtDir {
		t.Fatalf("push = %v", push)
	}
	list := cli(t, []string{"ATOCORE_BACKUP_TARGET=file://" + tgtDir, "ATOCORE_ALLOWED_SIGNERS=" + allowed}, "remote", "list").want(t, 0).json(t)
	if list["target"] != "file://"+tgtDir || len(list["backups"].([]any)) != 1 || list["backups"].([]any)[0].(map[string]any)["stamp"] != stamp ||
		list["backups"].([]any)[0].(map[string]any)["signature"] != "verified" {
		t.Fatalf("remote list = %v", list)
	}
	if l := cli(t, nil, "remote", "list", tgt).want(t, 0).json(t); l["backups"].([]any)[0].(map[string]any)["signature"] != "unverified" {
		t.Fatalf("remote list without signers = %v", l)
	}
	v := cli(t, nil, "remote", "validate", stamp, tgt, "--allowed-signers", allowed).want(t, 0).json(t)
	if v["valid"] != true || v["stamp"] != stamp {
		t.Fatalf("remote validate = %v", v)
	}
	cli(t, nil, "remote", "validate", stamp, tgt, "--age-identity", idFile).want(t, 0)

	// The age tool alone can open every remote file.
	age := testutil.Tool(t, "age")
	out, err := exec.Command(age, "-d", "-i", idFile, filepath.Join(tgtDir, "snapshots", stamp, "db", "atocore.db.age")).Output()
	if err != nil || !strings.HasPrefix(string(out), "SQLite format 3") {
		t.Fatalf("age -d of the pushed database: %v", err)
	}

	fresh := t.TempDir()
	cli(t, nil, "pull", stamp, tgt, "--root", fresh, "--allowed-signers", allowed).want(t, 1) // no identity
	if res := cli(t, nil, "pull", stamp, tgt, "--age-identity", idFile, "--root", fresh).want(t, 1); !strings.Contains(res.stderr, "--allowed-signers") {
		t.Fatalf("pull without signers: %s", res.stderr)
	}
	p := cli(t, nil, "pull", stamp, tgt, "--age-identity", idFile, "--root", fresh, "--allowed-signers", allowed).want(t, 0).json(t)
	if p["valid"] != true || p["signature"] != "verified" {
		t.Fatalf("pull = %v", p)
	}
	cli(t, nil, "restore", stamp, "--confirm-service-stopped", "--root", fresh).want(t, 0)
	if testutil.Fingerprint(t, filepath.Join(fresh, "data", "db", "atocore.db")) != testutil.Fingerprint(t, r.DBPath) {
		t.Fatal("the disaster-recovery restore differs from the original")
	}
	if n, _ := sample.CountMemories(context.Background(), filepath.Join(fresh, "data", "db", "atocore.db"), ""); n != r.Counts.Memories {
		t.Fatalf("restored %d memories, want %d", n, r.Counts.Memories)
	}

	pr := cli(t, nil, "remote", "prune", tgt, "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0").want(t, 0).json(t)
	if len(pr["kept"].([]any)) != 1 {
		t.Fatalf("remote prune = %v", pr)
	}
}

func TestOffsiteUsageErrors(t *testing.T) {
	r := testutil.Root(t)
	if err := os.MkdirAll(r.BackupDir, 0o700); err != nil { // a usage error, not "not found"
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"push", "--root", r.Dir},                                       // no target
		{"push", "--target", "ftp://x/y", "--root", r.Dir},              // bad scheme
		{"push", "--target", "file:///tmp/x", "--recipient", "age1notakey", "--root", r.Dir},
		{"remote", "--target", "file:///tmp/x"},
		{"remote", "frob", "--target", "file:///tmp/x"},
		{"remote", "validate", "../x", "--target", "file:///tmp/x"},
		{"pull", "../x", "--target", "file:///tmp/x", "--root", r.Dir},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cli(t, nil, args...).want(t, 2)
		})
	}
}

// remote list gives paths as list does: absolute paths on a local target.
func TestRemoteListPathsAreAbsolute(t *testing.T) {
	r := testutil.Root(t)
	cli(t, nil, "create", "--root", r.Dir).want(t, 0)
	tgtDir := t.TempDir()
	if res := cli(t, nil, "push", "--target", "file://"+tgtDir, "--root", r.Dir, "--allow-unsigned").want(t, 0); !strings.Contains(res.stderr, "WARNING") {
		t.Fatalf("an unsigned push without a warning: %s", res.stderr)
	}
	l := cli(t, nil, "remote", "list", "--target", "file://"+tgtDir).want(t, 0).json(t)
	p := l["backups"].([]any)[0].(map[string]any)["path"].(string)
	if !strings.HasPrefix(p, tgtDir+"/snapshots/") {
		t.Fatalf("remote list path %q, want under %s", p, tgtDir)
	}
}

// signingKey makes an Ed25519 key with ssh-keygen and the allowed_signers
// file a restoring machine holds for it.
func signingKey(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "signing_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(pub))
	allowed := filepath.Join(dir, "allowed_signers")
	line := `backup@prod namespaces="atocore-backup" ` + fields[0] + " " + fields[1] + "\n"
	if err := os.WriteFile(allowed, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return key, allowed
}

// After a rotation of the signing key, push --allowed-signers with the old
// key leaves the snapshots it signed (already_present, not repaired).
func TestPushWithRotatedKey(t *testing.T) {
	r := testutil.Root(t)
	tgt := "--target=file://" + t.TempDir()
	cli(t, nil, "create", "--root", r.Dir).want(t, 0)
	oldKey, oldAllowed := signingKey(t)
	newKey, _ := signingKey(t)
	cli(t, nil, "push", tgt, "--signing-key", oldKey, "--root", r.Dir).want(t, 0)
	res := cli(t, nil, "push", tgt, "--signing-key", newKey, "--allowed-signers", oldAllowed, "--root", r.Dir).want(t, 0).json(t)
	if len(res["repaired"].([]any)) != 0 || len(res["already_present"].([]any)) != 1 {
		t.Fatalf("push with the new key, the old one in --allowed-signers = %v", res)
	}
}

// remote list and remote validate on the pushing machine see a target
// that hides its newest snapshot: list marks the rest bad (rollback),
// validate exits 1 with sequence_rollback; --allow-rollback accepts it.
func TestRemoteCommandsSeeARollback(t *testing.T) {
	r := testutil.Root(t)
	tgtDir := t.TempDir()
	tgt := "--target=file://" + tgtDir
	first := cli(t, nil, "create", "--root", r.Dir).want(t, 0).json(t)["stamp"].(string)
	time.Sleep(1100 * time.Millisecond) // the next stamp
	second := cli(t, nil, "create", "--root", r.Dir).want(t, 0).json(t)["stamp"].(string)
	key, allowed := signingKey(t)
	cli(t, nil, "push", tgt, "--signing-key", key, "--root", r.Dir).want(t, 0)
	if err := os.Rename(filepath.Join(tgtDir, "snapshots", second), filepath.Join(t.TempDir(), "hidden")); err != nil {
		t.Fatal(err)
	}
	l := cli(t, nil, "remote", "list", tgt, "--allowed-signers", allowed, "--root", r.Dir).want(t, 0).json(t)
	if sig := l["backups"].([]any)[0].(map[string]any)["signature"].(string); !strings.HasPrefix(sig, "bad: ") || !strings.Contains(sig, "allow the rollback") {
		t.Fatalf("remote list of a rolled-back target: signature %q", sig)
	}
	v := cli(t, nil, "remote", "validate", first, tgt, "--allowed-signers", allowed, "--root", r.Dir).want(t, 1).json(t)
	if errs := v["errors"].([]any); len(errs) == 0 || !strings.HasPrefix(errs[0].(string), "sequence_rollback: ") {
		t.Fatalf("remote validate of a rolled-back target = %v", v)
	}
	cli(t, nil, "remote", "validate", first, tgt, "--allowed-signers", allowed, "--allow-rollback", "--root", r.Dir).want(t, 0)
}
