package offsite

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/pagedelta"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

// deltaFixture is a root with a database of some MiB, a target, and keys.
type deltaFixture struct {
	r      *sample.Root
	remote Remote
	push   PushOptions
	open   Opening
	idFile string
	day    int
}

func newDeltaFixture(t *testing.T) *deltaFixture {
	t.Helper()
	r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{Seed: 11, DBBytes: 6 << 20, ChromaBytes: 1 << 20, Segments: 2})
	if err != nil {
		t.Fatal(err)
	}
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(idFile, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := encrypt.IdentitiesFromFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := encrypt.ParseRecipients(rcpt)
	if err != nil {
		t.Fatal(err)
	}
	key, trust := signer(t)
	return &deltaFixture{r: r, remote: osRemote(t), idFile: idFile,
		push: PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key},
		open: Opening{Identities: ids, Trust: trust}}
}

// next changes frac of the rows (none at 0), takes the next day's
// snapshot and pushes it; it returns the snapshot and what the push did.
func (fx *deltaFixture) next(t *testing.T, frac float64) (*backup.Metadata, PushedInfo) {
	t.Helper()
	if frac > 0 {
		if _, err := sample.ChangeRows(context.Background(), fx.r.DBPath, frac, int64(fx.day)); err != nil {
			t.Fatal(err)
		}
	}
	fx.day++
	m := createAt(t, fx.r, time.Date(2026, 11, fx.day, 2, 0, 0, 0, time.UTC))
	res, err := pushRemote(context.Background(), testutil.Config(fx.r), fx.remote, fx.push)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Pushed {
		if p.Stamp == m.Stamp {
			return m, p
		}
	}
	t.Fatalf("push did not push %s: %+v", m.Stamp, res)
	return nil, PushedInfo{}
}

// onTarget lists the database's names in the target's snapshot stamp.
func (fx *deltaFixture) onTarget(t *testing.T, stamp string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(snapshot.Dir(fx.remote.Root, stamp), "db", "atocore.db*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range matches {
		out = append(out, "db/"+filepath.Base(m))
	}
	return out
}

// pullAndRestore pulls stamp into cfg and restores it there; it returns
// the restored database's fingerprint.
func (fx *deltaFixture) pullAndRestore(t *testing.T, cfg backup.Config, stamp string) string {
	t.Helper()
	if _, err := pullRemote(context.Background(), cfg, fx.remote, stamp, fx.open); err != nil {
		t.Fatalf("pull %s: %v", stamp, err)
	}
	if _, err := restore.Run(context.Background(), cfg, stamp, restore.Options{ConfirmServiceStopped: true}); err != nil {
		t.Fatalf("restore %s: %v", stamp, err)
	}
	return testutil.Fingerprint(t, filepath.Join(cfg.Root, "data", "db", "atocore.db"))
}

func TestPushSendsChangedPages(t *testing.T) {
	ctx := context.Background()
	fx := newDeltaFixture(t)
	m1, first := fx.next(t, 0)
	if len(first.PageDeltas) != 0 || first.BytesSent == 0 {
		t.Fatalf("first push: %+v", first)
	}
	m2, second := fx.next(t, 0.01)
	fp2 := testutil.Fingerprint(t, fx.r.DBPath)
	if len(second.PageDeltas) != 1 || second.PageDeltas[0].Base != m1.Stamp || second.PageDeltas[0].Depth != 1 {
		t.Fatalf("second push: %+v", second)
	}
	d := second.PageDeltas[0]
	if d.ChangedPages == 0 || d.ChangedPages > d.Pages/10 {
		t.Errorf("%d of %d pages sent after 1%% of the rows changed", d.ChangedPages, d.Pages)
	}
	// The push sends the changed pages, not the database: ≤ 2× their
	// bytes, plus the metadata's and manifest's few kB.
	if limit := 2*int64(d.ChangedPages)*4096 + 64<<10; second.BytesSent > limit {
		t.Errorf("second push sent %d bytes; %d pages changed (limit %d)", second.BytesSent, d.ChangedPages, limit)
	}
	if got, want := fx.onTarget(t, m2.Stamp), []string{"db/" + filepath.Base(pagedelta.Name("atocore.db", m1.Stamp)) + ".age"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the target holds %v for the database of %s, want %v", got, m2.Stamp, want)
	}
	m3, third := fx.next(t, 0.01)
	fp3 := testutil.Fingerprint(t, fx.r.DBPath)
	if len(third.PageDeltas) != 1 || third.PageDeltas[0].Base != m2.Stamp || third.PageDeltas[0].Depth != 2 {
		t.Fatalf("third push: %+v", third)
	}
	// Unchanged: the delta is copied (linked) under its name, on the same base.
	m4, fourth := fx.next(t, 0)
	if len(fourth.PageDeltas) != 0 || strings.Join(fx.onTarget(t, m4.Stamp), ",") != strings.Join(fx.onTarget(t, m3.Stamp), ",") {
		t.Fatalf("fourth push (database unchanged): %+v, target holds %v", fourth, fx.onTarget(t, m4.Stamp))
	}

	t.Run("RemoteValidate", func(t *testing.T) {
		for _, s := range []string{m2.Stamp, m3.Stamp, m4.Stamp} {
			v, err := validateRemote(ctx, fx.remote, s, fx.open)
			if err != nil || !v.Valid {
				t.Fatalf("remote validate %s: %+v, %v", s, v, err)
			}
		}
	})
	t.Run("PullOntoAnEmptyMachine", func(t *testing.T) {
		if fp := fx.pullAndRestore(t, freshConfig(t), m3.Stamp); fp != fp3 {
			t.Fatal("the database rebuilt from the target's chain differs from the one snapshotted")
		}
	})
	t.Run("PullOnALocalBase", func(t *testing.T) {
		cfg := freshConfig(t)
		fx.pullAndRestore(t, cfg, m1.Stamp)
		if fp := fx.pullAndRestore(t, cfg, m2.Stamp); fp != fp2 {
			t.Fatal("the database rebuilt on the local base differs from the one snapshotted")
		}
	})
	t.Run("PruneKeepsTheChain", func(t *testing.T) {
		res, err := pruneRemote(ctx, fx.remote, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 1}})
		if err != nil {
			t.Fatal(err)
		}
		// The newest holds m3's delta (on m2) under its own name: m3 itself
		// is not needed; m2 and the whole copy in m1 are.
		if strings.Join(res.Removed, ",") != m3.Stamp || res.Held[m1.Stamp] == "" || res.Held[m2.Stamp] == "" {
			t.Fatalf("remote prune of a chain: removed %v, held %v", res.Removed, res.Held)
		}
	})
	t.Run("ABaseGoneIsRepaired", func(t *testing.T) {
		if err := os.RemoveAll(snapshot.Dir(fx.remote.Root, m2.Stamp)); err != nil {
			t.Fatal(err)
		}
		v, err := validateRemote(ctx, fx.remote, m4.Stamp, fx.open)
		if err != nil || v.Valid || !strings.Contains(strings.Join(v.Errors, " "), m2.Stamp) {
			t.Fatalf("remote validate of a delta whose base is gone: %+v, %v", v, err)
		}
		// Remote prune counts it invalid: it takes no retention slot.
		plan, err := pruneRemote(ctx, fx.remote, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 7}, DryRun: true})
		if err != nil || !slices.Contains(plan.Invalid, m4.Stamp) {
			t.Fatalf("remote prune of a delta whose base is gone: %+v, %v", plan, err)
		}
		res, err := pushRemote(ctx, testutil.Config(fx.r), fx.remote, fx.push)
		if err != nil {
			t.Fatal(err)
		}
		repaired := map[string]bool{}
		for _, r := range res.Repaired {
			repaired[r.Stamp] = true
		}
		if !repaired[m4.Stamp] {
			t.Fatalf("push after the base went: %+v", res)
		}
		if got := fx.onTarget(t, m4.Stamp); strings.Join(got, ",") != "db/atocore.db.age" {
			t.Fatalf("the repaired snapshot holds %v", got)
		}
		if fp := fx.pullAndRestore(t, freshConfig(t), m4.Stamp); fp != fp3 {
			t.Fatal("the repaired snapshot restores another database")
		}
	})
}

func TestDeltaChainIsBounded(t *testing.T) {
	fx := newDeltaFixture(t)
	fx.push.DeltaChain = 2
	fx.next(t, 0)
	var depths []int
	for range 4 {
		_, p := fx.next(t, 0.005)
		depth := 0
		if len(p.PageDeltas) == 1 {
			depth = p.PageDeltas[0].Depth
		}
		depths = append(depths, depth)
	}
	if got := fmtInts(depths); got != "1,2,0,1" {
		t.Fatalf("delta depths of four pushes with a chain of 2: %s", got)
	}
	fx.push.DeltaChain = -1
	if _, p := fx.next(t, 0.005); len(p.PageDeltas) != 0 {
		t.Fatalf("a push with page deltas off sent %+v", p.PageDeltas)
	}
}

func fmtInts(v []int) string {
	var b strings.Builder
	for i, n := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(rune('0' + n)))
	}
	return b.String()
}

// TestDeltaOnTargetOpensWithAgeAndLTX is the documented way to a
// database without this tool: age -d the whole copy and each delta, then
// ltx apply the deltas in order (docs/formats.md).
func TestDeltaOnTargetOpensWithAgeAndLTX(t *testing.T) {
	ageBin := testutil.Tool(t, "age")
	ltxBin := testutil.Tool(t, "ltx")
	fx := newDeltaFixture(t)
	m1, _ := fx.next(t, 0)
	m2, _ := fx.next(t, 0.01)
	m3, _ := fx.next(t, 0.01)
	dir := t.TempDir()
	db := filepath.Join(dir, "atocore.db")
	decrypt := func(stamp, name, out string) {
		src := filepath.Join(snapshot.Dir(fx.remote.Root, stamp), filepath.FromSlash(name))
		if out, err := exec.Command(ageBin, "-d", "-i", fx.idFile, "-o", out, src).CombinedOutput(); err != nil {
			t.Fatalf("age -d %s: %v\n%s", src, err, out)
		}
	}
	decrypt(m1.Stamp, "db/atocore.db.age", db)
	for i, step := range []struct{ stamp, base string }{{m2.Stamp, m1.Stamp}, {m3.Stamp, m2.Stamp}} {
		l := filepath.Join(dir, step.stamp+".ltx")
		decrypt(step.stamp, pagedelta.Name(snapshot.DBFile, step.base)+".age", l)
		if out, err := exec.Command(ltxBin, "apply", "-db", db, l).CombinedOutput(); err != nil {
			t.Fatalf("ltx apply of delta %d: %v\n%s", i+1, err, out)
		}
	}
	want, err := os.ReadFile(filepath.Join(snapshot.Dir(fx.r.BackupDir, m3.Stamp), filepath.FromSlash(snapshot.DBFile)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(db)
	if !bytes.Equal(got, want) {
		t.Fatal("age and ltx rebuilt another database than the snapshot's")
	}
}

// A local base damaged on disk would make a delta for another database
// than the target holds: the push sends the whole file instead.
func TestDamagedLocalBaseSendsTheWholeFile(t *testing.T) {
	fx := newDeltaFixture(t)
	m1, _ := fx.next(t, 0)
	testutil.Corrupt(t, filepath.Join(snapshot.Dir(fx.r.BackupDir, m1.Stamp), filepath.FromSlash(snapshot.DBFile)), 3*4096+100, 8)
	m2, p := fx.next(t, 0.01)
	fp2 := testutil.Fingerprint(t, fx.r.DBPath)
	if len(p.PageDeltas) != 0 {
		t.Fatalf("a delta on a damaged base was pushed: %+v", p.PageDeltas)
	}
	if fp := fx.pullAndRestore(t, freshConfig(t), m2.Stamp); fp != fp2 {
		t.Fatal("the snapshot pushed after a damaged base restores another database")
	}
}

// The chain behind the previous pushed snapshot lost its whole copy on
// the target, out of the push's sight (the snapshot between is no longer
// local, so no push examines it): a delta on that chain would be a
// snapshot nobody can restore, so the next push sends the database whole.
func TestBrokenChainSendsTheWholeFile(t *testing.T) {
	fx := newDeltaFixture(t)
	m1, _ := fx.next(t, 0)
	m2, _ := fx.next(t, 0.01)
	if _, p := fx.next(t, 0.01); len(p.PageDeltas) != 1 || p.PageDeltas[0].Depth != 2 {
		t.Fatalf("third push: %+v", p)
	}
	if err := os.RemoveAll(snapshot.Dir(fx.remote.Root, m1.Stamp)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(snapshot.Dir(fx.r.BackupDir, m2.Stamp)); err != nil {
		t.Fatal(err)
	}
	m4, p := fx.next(t, 0.01)
	if len(p.PageDeltas) != 0 {
		t.Fatalf("a delta on a chain without its whole copy was pushed: %+v", p.PageDeltas)
	}
	fp4 := testutil.Fingerprint(t, fx.r.DBPath)
	if fp := fx.pullAndRestore(t, freshConfig(t), m4.Stamp); fp != fp4 {
		t.Fatal("the snapshot pushed after the chain broke restores another database")
	}
}
