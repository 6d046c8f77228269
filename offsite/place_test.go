package offsite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// racingFs runs won once, right after the rename of an incoming
// directory onto snapshots/: another host's rename of the same stamp,
// on a server whose rename replaces an existing name.
type racingFs struct {
	afero.Fs
	won func()
}

func (f *racingFs) Rename(oldname, newname string) error {
	err := f.Fs.Rename(oldname, newname)
	if err == nil && strings.HasPrefix(filepath.Base(oldname), IncomingPrefix) && f.won != nil {
		f.won()
		f.won = nil
	}
	return err
}

// Names of incoming directories: this version's (.incoming-STAMP.ID,
// one per holder) and earlier versions' (.incoming-STAMP) give their
// stamp; claim files and anything else do not.
func TestIncomingStamp(t *testing.T) {
	const stamp = "20260501T060000Z"
	own := incomingName(stamp, "host:/srv/backups")
	if own == incomingName(stamp, "other:/srv/backups") {
		t.Fatal("two holders share an incoming directory")
	}
	for name, want := range map[string]bool{
		own:                               true,
		IncomingPrefix + stamp:            true,
		IncomingPrefix + stamp + ".claim": false,
		IncomingPrefix + stamp + ".ABCDEF0123456":     false,
		IncomingPrefix + stamp + ".0123456789ab.part": false,
		IncomingPrefix + "latest.0123456789ab":        false,
		"snapshots":                                   false,
	} {
		got, ok := incomingStamp(name)
		if ok != want || (ok && got != stamp) {
			t.Errorf("incomingStamp(%q) = %q, %v; want ok %v", name, got, ok, want)
		}
	}
}

// Two hosts rename onto one stamp at the same moment on a server whose
// rename replaces: the host whose snapshot did not stay is told so
// (ErrStampTaken), never that it pushed, and the other's is left whole.
func TestPushReplacedAfterItsRenameIsAnError(t *testing.T) {
	at := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
	remote := osRemote(t)
	keyA, _ := signer(t)
	keyB, trustB := signer(t)
	rA, rB := testutil.Root(t), testutil.Root(t)
	m := createAt(t, rA, at)
	createAt(t, rB, at)
	// B's snapshot, pushed to this target and kept aside until A renames.
	if _, err := pushRemote(context.Background(), testutil.Config(rB), remote, PushOptions{Signer: keyB}); err != nil {
		t.Fatal(err)
	}
	final := snapshot.Dir(remote.Root, m.Stamp)
	bs := filepath.Join(t.TempDir(), "b")
	if err := os.Rename(final, bs); err != nil {
		t.Fatal(err)
	}
	stB, err := os.ReadFile(filepath.Join(bs, StatementFile))
	if err != nil {
		t.Fatal(err)
	}
	racing := Remote{FS: &racingFs{Fs: remote.FS, won: func() {
		if err := os.RemoveAll(final); err != nil {
			t.Error(err)
		}
		if err := os.Rename(bs, final); err != nil {
			t.Error(err)
		}
	}}, Root: remote.Root, URL: remote.URL}
	res, err := pushRemote(context.Background(), testutil.Config(rA), racing, PushOptions{Signer: keyA})
	if !errors.Is(err, ErrStampTaken) || !errors.Is(err, ErrClaimed) || len(res.Pushed) != 0 {
		t.Fatalf("push replaced after its rename = %+v, %v; want %v", res, err, ErrStampTaken)
	}
	if got, _ := os.ReadFile(filepath.Join(final, StatementFile)); !bytes.Equal(got, stB) {
		t.Fatal("the target's snapshot is not the other host's")
	}
	if v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trustB}); err != nil || !v.Valid {
		t.Fatalf("the other host's snapshot: %+v, %v", v, err)
	}
}

// remote prune deletes the incoming directories of a stamp that is
// complete on the target, whichever host's and of either name; those of
// a stamp not there yet, and the claim files, stay.
func TestPruneRemovesAbandonedIncoming(t *testing.T) {
	r := testutil.Root(t)
	remote := osRemote(t)
	m := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	const pending = "20260502T060000Z"
	gone := []string{incomingName(m.Stamp, "other:/srv/backups"), IncomingPrefix + m.Stamp}
	kept := []string{incomingName(pending, "other:/srv/backups"), IncomingPrefix + pending, IncomingPrefix + m.Stamp + claimSuffix}
	for _, name := range append(append([]string{}, gone...), kept...) {
		p := filepath.Join(remote.Root, name)
		var err error
		if strings.HasSuffix(name, claimSuffix) {
			err = os.WriteFile(p, []byte(`{"holder":"other:/srv/backups"}`), 0o600)
		} else {
			err = os.MkdirAll(filepath.Join(p, "db"), 0o700)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pruneRemote(context.Background(), remote, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 7}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range gone {
		if _, err := os.Lstat(filepath.Join(remote.Root, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("prune left %s: %v", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Lstat(filepath.Join(remote.Root, name)); err != nil {
			t.Errorf("prune removed %s: %v", name, err)
		}
	}
}

// A later push never replaces another host's snapshot of the same stamp:
// a statement whose signature is sound, by a key this host neither holds
// nor was told to trust, is another host's, not damage to repair. The
// push leaves it, pushes the rest, and fails naming the stamp.
func TestPushLeavesAnotherSignersSnapshotOfItsStamp(t *testing.T) {
	at := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
	remote := osRemote(t)
	keyA, trustA := signer(t)
	keyB, _ := signer(t)
	rA, rB := testutil.Root(t), testutil.Root(t)
	m := createAt(t, rA, at)
	createAt(t, rB, at)
	later := createAt(t, rB, at.Add(time.Hour))
	if _, err := pushRemote(context.Background(), testutil.Config(rA), remote, PushOptions{Signer: keyA}); err != nil {
		t.Fatal(err)
	}
	final := snapshot.Dir(remote.Root, m.Stamp)
	stA, err := os.ReadFile(filepath.Join(final, StatementFile))
	if err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), testutil.Config(rB), remote, PushOptions{Signer: keyB})
	if !errors.Is(err, ErrStampTaken) || !strings.Contains(err.Error(), m.Stamp) {
		t.Fatalf("push over another signer's snapshot of its stamp = %+v, %v; want %v naming %s", res, err, ErrStampTaken, m.Stamp)
	}
	if len(res.Repaired) != 0 {
		t.Fatalf("another host's snapshot was repaired (replaced): %+v", res.Repaired)
	}
	if len(res.Pushed) != 1 || res.Pushed[0].Stamp != later.Stamp {
		t.Fatalf("the other stamps were not pushed: %+v", res.Pushed)
	}
	if got, _ := os.ReadFile(filepath.Join(final, StatementFile)); !bytes.Equal(got, stA) {
		t.Fatal("the target's snapshot of the stamp is no longer the first host's")
	}
	if v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trustA}); err != nil || !v.Valid {
		t.Fatalf("the first host's snapshot: %+v, %v", v, err)
	}
}

// A directory under a stamp this host never pushed, without a statement,
// is not this host's snapshot "pushed before statements existed": an
// empty one is filled, one with files (another host's, or planted) is
// left and the push fails naming it. Neither counts as already present.
func TestPushDoesNotTakeAnUnsignedStrangerForItsOwn(t *testing.T) {
	r := testutil.Root(t)
	remote := osRemote(t)
	key, trust := signer(t)
	empty := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	planted := createAt(t, r, time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC))
	if err := os.MkdirAll(snapshot.Dir(remote.Root, empty.Stamp), 0o700); err != nil {
		t.Fatal(err)
	}
	strange := filepath.Join(snapshot.Dir(remote.Root, planted.Stamp), "db")
	if err := os.MkdirAll(strange, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(strange, "atocore.db"), []byte("someone's"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
	if !errors.Is(err, ErrStampTaken) || !strings.Contains(err.Error(), planted.Stamp) || len(res.Present) != 0 {
		t.Fatalf("push over planted unsigned directories = %+v, %v; want %v naming %s, nothing present", res, err, ErrStampTaken, planted.Stamp)
	}
	if v, err := validateRemote(context.Background(), remote, empty.Stamp, Opening{Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("the stamp whose directory was empty: %+v, %v", v, err)
	}
	if got, _ := os.ReadFile(filepath.Join(strange, "atocore.db")); string(got) != "someone's" {
		t.Fatal("the unsigned directory this host did not push was changed")
	}
}

// Listing another host's key among the allowed signers (as the restoring
// machines' file does) does not make that host's snapshot of the same
// stamp this host's to repair: it is left as it is.
func TestPushLeavesATrustedHostsSnapshotOfItsStamp(t *testing.T) {
	at := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
	remote := osRemote(t)
	keyA, trustA := signer(t)
	keyB, trustB := signer(t)
	rA, rB := testutil.Root(t), testutil.Root(t)
	m := createAt(t, rA, at)
	createAt(t, rB, at)
	if _, err := pushRemote(context.Background(), testutil.Config(rA), remote, PushOptions{Signer: keyA}); err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), testutil.Config(rB), remote, PushOptions{Signer: keyB, Trusted: trustA.Signers.Plus(trustB.Signers)})
	if !errors.Is(err, ErrStampTaken) || len(res.Repaired) != 0 {
		t.Fatalf("push over a trusted host's snapshot of its stamp = %+v, %v; want %v, nothing repaired", res, err, ErrStampTaken)
	}
	if v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trustA}); err != nil || !v.Valid {
		t.Fatalf("the first host's snapshot: %+v, %v", v, err)
	}
}

// A snapshot this host pushed, replaced on the target by one soundly
// signed with a key nobody trusts, is the target's forgery, not another
// host's (whose push of a stamp already there is refused): it is repaired.
func TestPushRepairsItsSnapshotReplacedByAForgery(t *testing.T) {
	r := testutil.Root(t)
	remote := osRemote(t)
	key, trust := signer(t)
	forger, _ := signer(t)
	m := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	// The target re-signs the statement with a key of its own.
	dir := snapshot.Dir(remote.Root, m.Stamp)
	data, err := os.ReadFile(filepath.Join(dir, StatementFile))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sshsig.Sign(forger, SignatureNamespace, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SignatureFile), sig, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
	if err != nil || len(res.Repaired) != 1 || res.Repaired[0].Stamp != m.Stamp {
		t.Fatalf("push over its snapshot re-signed by the target = %+v, %v; want it repaired", res, err)
	}
	if v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("after the repair: %+v, %v", v, err)
	}
}

// A statement claiming a sequence near 2^64 (made by a holder of a
// trusted key) is not continued from: the next would wrap to 0 and look
// like a rollback to every reader.
func TestChainDoesNotFollowAHugeSequence(t *testing.T) {
	r := testutil.Root(t)
	remote := osRemote(t)
	key, _ := signer(t)
	first := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(remote.Root, first.Stamp)
	data, err := os.ReadFile(filepath.Join(dir, StatementFile))
	if err != nil {
		t.Fatal(err)
	}
	huge := bytes.Replace(data, []byte(`"sequence": 1,`), []byte(`"sequence": 18446744073709551615,`), 1)
	if bytes.Equal(huge, data) {
		t.Fatalf("no sequence field to change in %s", data)
	}
	sig, err := sshsig.Sign(key, SignatureNamespace, huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, StatementFile), huge, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SignatureFile), sig, 0o600); err != nil {
		t.Fatal(err)
	}
	createAt(t, r, time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC))
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
	if err != nil || len(res.Pushed) != 1 || res.Pushed[0].Sequence != 2 {
		t.Fatalf("push after a statement of sequence 2^64-1 = %+v, %v; want the next at 2", res, err)
	}
}
