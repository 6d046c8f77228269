package offsite

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// A target B rolled back to an older state, holding a snapshot copied from
// another target A of the same signer, whose statement has a higher
// sequence number: the copied statement names A, so it neither counts for
// B's sequence (the machine that remembers B sees the rollback) nor pulls
// from B (ErrOtherTarget, unless allowed). Before statements named their
// target, the copy's higher number hid the rollback.
func TestStatementFromAnotherTarget(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	a, b := osRemote(t), osRemote(t)
	day := func(d int) time.Time { return time.Date(2026, 5, d, 6, 0, 0, 0, time.UTC) }
	s1 := createAt(t, r, day(1))
	s2 := createAt(t, r, day(2))
	if _, err := pushRemote(context.Background(), testutil.Config(r), b, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	for d := 3; d <= 6; d++ {
		createAt(t, r, day(d))
	}
	if _, err := pushRemote(context.Background(), testutil.Config(r), a, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	ida, _ := readTargetID(a)
	idb, _ := readTargetID(b)
	if ida == "" || idb == "" || ida == idb {
		t.Fatalf("target ids %q and %q: want two distinct ids", ida, idb)
	}
	dr := freshConfig(t)
	if _, err := pullRemote(context.Background(), dr, b, s2.Stamp, Opening{Trust: trust}); err != nil {
		t.Fatal(err)
	}
	// B hides s2 and gets A's newest snapshot (sequence 6).
	if err := os.Rename(snapshot.Dir(b.Root, s2.Stamp), filepath.Join(t.TempDir(), "hidden")); err != nil {
		t.Fatal(err)
	}
	newestA := snapshot.Dir(a.Root, "20260506T060000Z")
	copyTree(t, newestA, snapshot.Dir(b.Root, "20260506T060000Z"))
	if _, err := pullRemote(context.Background(), dr, b, s1.Stamp, Opening{Trust: trust}); !errors.Is(err, ErrRollback) {
		t.Fatalf("pull from a rolled-back target holding another target's statement = %v, want %v", err, ErrRollback)
	}
	// The same target reached under another address: the memory is the
	// target's (by its id), not the address's.
	alias := Remote{FS: b.FS, Root: b.Root, URL: "file://" + b.Root + "/."}
	if _, err := pullRemote(context.Background(), dr, alias, s1.Stamp, Opening{Trust: trust}); !errors.Is(err, ErrRollback) {
		t.Fatalf("pull under another address = %v, want %v", err, ErrRollback)
	}
	// The copied snapshot itself is refused from B, on any machine.
	fresh := freshConfig(t)
	if _, err := pullRemote(context.Background(), fresh, b, "20260506T060000Z", Opening{Trust: trust}); !errors.Is(err, ErrOtherTarget) {
		t.Fatalf("pull of another target's snapshot = %v, want %v", err, ErrOtherTarget)
	}
	v, err := validateRemote(context.Background(), b, "20260506T060000Z", Opening{Trust: trust})
	if err != nil || v.Valid || !hasError(v, CodeOtherTarget) {
		t.Fatalf("remote validate of another target's snapshot = %+v, %v", v, err)
	}
	list, err := listRemote(context.Background(), b, trust)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Stamp == "20260506T060000Z" && (!strings.HasPrefix(e.Signature, SignatureBad) || !strings.Contains(e.Signature, "another target")) {
			t.Errorf("remote list entry of the copy = %+v", e)
		}
	}
	allow := trust
	allow.AllowOtherTarget, allow.AllowRollback = true, true
	if _, err := pullRemote(context.Background(), fresh, b, "20260506T060000Z", Opening{Trust: allow}); err != nil {
		t.Fatalf("pull of another target's snapshot, allowed: %v", err)
	}
}

// Statements pushed before they named their target (no target_id) still
// verify and pull: they are what they are, statements that cannot say
// which target they were pushed to.
func TestStatementWithoutTargetID(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	remote := osRemote(t)
	m := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(remote.Root, m.Stamp)
	data, err := os.ReadFile(filepath.Join(dir, StatementFile))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil || fields["target_id"] == nil {
		t.Fatalf("statement has no target_id: %s", data)
	}
	delete(fields, "target_id")
	old, _ := json.MarshalIndent(fields, "", " ")
	sig, err := sshsig.Sign(key, SignatureNamespace, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, StatementFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SignatureFile), sig, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pullRemote(context.Background(), freshConfig(t), remote, m.Stamp, Opening{Trust: trust}); err != nil {
		t.Fatalf("pull of a statement without target id: %v", err)
	}
	v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trust})
	if err != nil || !v.Valid {
		t.Fatalf("remote validate of a statement without target id = %+v, %v", v, err)
	}
}

// remote list and remote validate check the sequence against this
// machine's memory and record the newest they verified: a rollback shows
// as bad in list (with the reason) and fails validate
// (sequence_rollback), unless allowed. A read-only command records only
// into an existing .push-state/, and creates nothing.
func TestListAndValidateCheckTheSequence(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	remote := osRemote(t)
	s1 := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	s2 := createAt(t, r, time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	memory := func(dir string) Trust {
		tr := trust
		tr.Memory = &Memory{FS: afero.NewOsFs(), BackupDir: dir}
		return tr
	}
	byList := t.TempDir() // a machine that remembers through remote list
	byValidate := t.TempDir()
	bare := t.TempDir() // no .push-state/: nothing is recorded, nothing created
	for _, d := range []string{byList, byValidate} {
		if err := os.Mkdir(filepath.Join(d, stateDir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := listRemote(context.Background(), remote, memory(byList)); err != nil || len(l) != 2 || l[1].Signature != SignatureVerified {
		t.Fatalf("remote list = %v, %v", signatures(l), err)
	}
	if _, err := listRemote(context.Background(), remote, memory(bare)); err != nil {
		t.Fatal(err)
	}
	if v, err := validateRemote(context.Background(), remote, s2.Stamp, Opening{Trust: memory(byValidate)}); err != nil || !v.Valid {
		t.Fatalf("remote validate = %+v, %v", v, err)
	}
	if entries, _ := os.ReadDir(bare); len(entries) != 0 {
		t.Fatalf("remote list created %v in a backup directory without .push-state", entries)
	}
	// The target hides s2.
	if err := os.Rename(snapshot.Dir(remote.Root, s2.Stamp), filepath.Join(t.TempDir(), "hidden")); err != nil {
		t.Fatal(err)
	}
	pusher, err := testutil.Config(r).Resolved()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dir  string
	}{{"pusher", pusher.BackupDir}, {"remembered by list", byList}, {"remembered by validate", byValidate}} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := listRemote(context.Background(), remote, memory(tc.dir))
			if err != nil || len(l) != 1 || !strings.HasPrefix(l[0].Signature, SignatureBad) || !strings.Contains(l[0].Signature, "older than one this machine has seen") {
				t.Fatalf("remote list of a rolled-back target = %v, %v", signatures(l), err)
			}
			v, err := validateRemote(context.Background(), remote, s1.Stamp, Opening{Trust: memory(tc.dir)})
			if err != nil || v.Valid || !hasError(v, CodeRollback) {
				t.Fatalf("remote validate on a rolled-back target = %+v, %v", v, err)
			}
			allow := memory(tc.dir)
			allow.AllowRollback = true
			if l, err := listRemote(context.Background(), remote, allow); err != nil || l[0].Signature != SignatureVerified {
				t.Fatalf("remote list, rollback allowed = %v, %v", signatures(l), err)
			}
			if v, err := validateRemote(context.Background(), remote, s1.Stamp, Opening{Trust: allow}); err != nil || !v.Valid {
				t.Fatalf("remote validate, rollback allowed = %+v, %v", v, err)
			}
		})
	}
	// A machine that never saw s2 cannot tell.
	if l, err := listRemote(context.Background(), remote, memory(bare)); err != nil || l[0].Signature != SignatureVerified {
		t.Fatalf("remote list on a machine without memory = %v, %v", signatures(l), err)
	}
}

// signatures are the Signature fields of a remote list.
func signatures(l []RemoteSnapshot) []string {
	var out []string
	for _, e := range l {
		out = append(out, e.Stamp+": "+e.Signature)
	}
	return out
}

// A target whose id file is gone or garbled is still held to the id this
// machine remembers for it, even with another target allowed: without an
// id the rollback memory would not be consulted at all.
func TestReaderKeepsTheRememberedIDWhenTheTargetLostIts(t *testing.T) {
	remote := osRemote(t)
	known := &knownTarget{Target: remote.URL, TargetID: newTargetID()}
	for name, content := range map[string]string{"gone": "", "garbled": "not an id"} {
		p := filepath.Join(remote.Root, TargetIDFile)
		_ = os.Remove(p)
		if content != "" {
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, allowOther := range []bool{false, true} {
			id, err := readerTargetID(remote, known, allowOther)
			if name == "garbled" && !allowOther {
				if err == nil {
					t.Errorf("%s id file, another target not allowed: no error", name)
				}
				continue
			}
			if err != nil || id != known.TargetID {
				t.Errorf("%s id file, allow other %v: id %q, %v; want the remembered %q", name, allowOther, id, err, known.TargetID)
			}
		}
	}
}
