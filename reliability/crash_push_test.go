package reliability_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
)

// TestCrashPush kills an encrypted `push` at random moments. After each
// kill: every snapshot on the target under a valid stamp is complete and
// valid (ciphertext digests and, decrypted, the full validation); the
// local snapshots are untouched; the next push completes every snapshot,
// reuses what was finished, and leaves no incoming directory.
func TestCrashPush(t *testing.T) {
	if testing.Short() {
		t.Skip("crash trials are not short")
	}
	t.Parallel()
	rnd := rng(t)
	r := genRoot(t, 24<<20, 16<<20, 6)
	cfg := configOf(r)
	for range 2 {
		if _, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true}); err != nil {
			t.Fatal(err)
		}
	}
	local := stampEntries(t, r.BackupDir)
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(idFile, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := encrypt.IdentitiesFromFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	signingKey := filepath.Join(t.TempDir(), "signing")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", signingKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	tgtDir := filepath.Join(t.TempDir(), "offsite")
	args := []string{"push", "--target", "file://" + tgtDir, "--recipient", rcpt, "--signing-key", signingKey, "--root", r.Dir}
	reset := func() {
		if err := os.RemoveAll(tgtDir); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(r.BackupDir, ".push-state")); err != nil {
			t.Fatal(err)
		}
	}
	localBefore := treeState(t, filepath.Join(r.BackupDir, "snapshots"))
	rt := measure(t, func(int) { reset() }, args...)
	c := tally{op: "push", duration: rt.killRange()}
	tg, err := target.Local(tgtDir)
	if err != nil {
		t.Fatal(err)
	}
	remoteValid := func(fail func(string, ...any)) {
		for _, st := range stampEntries(t, tgtDir) {
			res, err := offsite.Validate(context.Background(), tg, st, offsite.Opening{Identities: ids})
			if err != nil || !res.Valid {
				fail("remote snapshot %s under a valid stamp is not valid: %v %v", st, err, res)
			}
		}
	}
	for i := range crashTrials() {
		reset()
		kr := runAndKill(t, delayIn(rnd, rt.killRange()), args...)
		fail := c.record(t, i, kr)
		if entries, _ := os.ReadDir(tgtDir); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), ".incoming-") }) {
			c.leftoversAfterKill++
		}
		remoteValid(fail)
		if !sameState(localBefore, treeState(t, filepath.Join(r.BackupDir, "snapshots"))) {
			fail("the push changed the local snapshots")
		}
		rr := rt.timedRun(t, args...)
		if rr.code != 0 {
			fail("rerun: exit %d: %s", rr.code, rr.stderr)
		}
		if got := stampEntries(t, tgtDir); !slices.Equal(got, local) {
			fail("after the rerun the target holds %v, want %v", got, local)
		}
		remoteValid(fail)
		if entries, _ := os.ReadDir(tgtDir); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), ".incoming-") }) {
			fail("the rerun left an incoming directory")
		}
		if t.Failed() && !longMode() {
			break
		}
	}
	c.duration = rt.killRange()
	c.log(t)
}
