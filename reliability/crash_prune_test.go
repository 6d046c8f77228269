package reliability_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Crash trials of prune (the harness is in crash_test.go).

// pruneFixture is a backup directory with one snapshot a day for days
// days: the snapshot src cloned (hardlinked, so cheap) under older stamps.
type pruneFixture struct {
	backupDir string
	src       string // a real snapshot directory outside snapshots/
	days      int
	now       time.Time
}

func newPruneFixture(t *testing.T, days int) *pruneFixture {
	t.Helper()
	r := genRoot(t, 0, 0, 4)
	m, err := backup.Create(context.Background(), configOf(r), backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "template")
	if err := os.Rename(snapshot.Dir(r.BackupDir, m.Stamp), src); err != nil {
		t.Fatal(err)
	}
	return &pruneFixture{backupDir: r.BackupDir, src: src, days: days, now: time.Now().UTC()}
}

// reset empties snapshots/ and clones the template under one stamp a day.
func (p *pruneFixture) reset(t *testing.T) {
	t.Helper()
	removeSnapshotsExcept(t, p.backupDir)
	for k := range p.days {
		st := snapshot.FormatStamp(p.now.Add(-time.Duration(k)*24*time.Hour - time.Hour))
		if err := cloneTree(p.src, snapshot.Dir(p.backupDir, st)); err != nil {
			t.Fatal(err)
		}
	}
}

// cloneTree hardlinks every file of src into a new tree dst.
func cloneTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		return os.Link(p, target)
	})
}

// keptSet is what the default policy keeps, by a dry run.
func (p *pruneFixture) keptSet(t *testing.T) []string {
	t.Helper()
	res, err := backup.PruneDir(context.Background(), osFS, p.backupDir, backup.PruneOptions{Policy: backup.DefaultPolicy(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) == 0 {
		t.Fatal("the fixture gives prune nothing to remove")
	}
	return res.Kept
}

func TestCrashPrune(t *testing.T) {
	if testing.Short() {
		t.Skip("crash trials are not short")
	}
	t.Parallel()
	rnd := rng(t)
	p := newPruneFixture(t, 45)
	args := []string{"prune", "--backup-dir", p.backupDir}
	p.reset(t)
	kept := p.keptSet(t)
	rt := measure(t, func(int) { p.reset(t) }, args...)
	if got := stampEntries(t, p.backupDir); !slices.Equal(got, kept) {
		t.Fatalf("a clean prune kept %v, want %v", got, kept)
	}
	c := tally{op: "prune", duration: rt.killRange()}
	t.Logf("prune of %d snapshots (removing %d): killing at uniform times in [0, %v] at first", p.days, p.days-len(kept), rt.killRange())

	for i := range crashTrials() {
		p.reset(t)
		kr := runAndKill(t, delayIn(rnd, rt.killRange()), args...)
		fail := c.record(t, i, kr)
		if len(leftovers(t, p.backupDir)) > 0 {
			c.leftoversAfterKill++
		}
		// Nothing under a valid stamp is half deleted, and nothing the
		// policy keeps is gone. Prune writes no file content, it renames
		// and deletes whole directories: completeness (every file of the
		// manifest present with its size, nothing else, metadata that
		// parses) is what a kill could break, and the quick check covers
		// it; the clones share their files, so one full check covers the
		// bytes of all.
		for _, bad := range checkAllValid(t, p.backupDir, nil, true) {
			fail("incomplete snapshot under a valid stamp: %s", bad)
		}
		if left := stampEntries(t, p.backupDir); len(left) > 0 {
			full := map[string]bool{}
			for _, st := range left[:len(left)-1] {
				full[st] = true
			}
			for _, bad := range checkAllValid(t, p.backupDir, full, false) {
				fail("invalid snapshot under a valid stamp: %s", bad)
			}
		}
		left := stampEntries(t, p.backupDir)
		for _, k := range kept {
			if !slices.Contains(left, k) {
				fail("snapshot %s, which the policy keeps, is gone", k)
			}
		}
		rr := rt.timedRun(t, args...)
		if rr.code != 0 {
			fail("rerun: exit %d: %s", rr.code, rr.stderr)
		}
		if got := stampEntries(t, p.backupDir); !slices.Equal(got, kept) {
			fail("after the rerun snapshots/ holds %v, want %v", got, kept)
		}
		if l := leftovers(t, p.backupDir); len(l) > 0 {
			fail("rerun left %v", l)
		}
		if t.Failed() && !longMode() {
			break
		}
	}
	c.duration = rt.killRange()
	c.log(t)
}
