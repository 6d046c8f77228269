package reliability_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/restore"
)

// Fault injection: the backup directory's filesystem (backup.Config.FS)
// is a faultFS over the real one that fails the Nth call of one kind of
// operation. For every kind, N sweeps the calls a clean run makes (evenly
// sampled when there are many). After each fault: the error is clear (one
// line, naming the failure), no snapshot under a valid stamp is invalid,
// the live data is unchanged (or, for restore, is the snapshot's with a
// pre-restore snapshot to roll back to), and a clean run then succeeds.

// faultSamples is how many values of N are tried per operation kind.
func faultSamples() int { return scaled(6, 40) }

// faultKinds are the rules swept: one errno per kind, as the OS would
// return it. A full disk stays full, so ENOSPC is sticky.
var faultKinds = []FailOn{
	{Op: opCreate, Err: syscall.ENOSPC, Sticky: true},
	{Op: opMkdir, Err: syscall.ENOSPC, Sticky: true},
	{Op: opWrite, Err: syscall.ENOSPC, Sticky: true},
	{Op: opWrite, ShortWrite: true},
	{Op: opWrite, ShortWrite: true, Silent: true},
	{Op: opSync, Err: syscall.EIO},
	{Op: opClose, Err: syscall.EIO},
	{Op: opRename, Err: syscall.EIO},
	{Op: opOpen, Err: syscall.EIO},
	{Op: opRead, Err: syscall.EIO},
}

// faultTally counts the outcomes of a sweep, for the log and the doc.
type faultTally struct {
	op         string
	trials     int
	failed     int // the operation returned an error
	absorbed   int // the fault hit a call whose failure is harmless (read of an optional file, close of a read-only file); the operation succeeded and its result is valid
	notReached int // the run made fewer calls than the clean run
	violations int
	examples   map[string]string // one error message per fault kind
}

func (f *faultTally) log(t *testing.T) {
	t.Logf("FIGURE fault %s: trials=%d failed-cleanly=%d absorbed=%d not-reached=%d violations=%d", f.op, f.trials, f.failed, f.absorbed, f.notReached, f.violations)
	keys := make([]string, 0, len(f.examples))
	for k := range f.examples {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("  example %s: %s", k, f.examples[k])
	}
}

// checkMessage requires a one-line error that names the injected failure.
// SQLite reports a failed read of its file as "disk I/O error"; validation
// turns a failure it finds into a finding with the path.
func checkMessage(err error, r FailOn) string {
	msg := err.Error()
	switch {
	case msg == "":
		return "empty error message"
	case strings.ContainsAny(msg, "\r\n"):
		return "error message is more than one line: " + msg
	}
	want := []string{errnoText(r)}
	if r.Op == opRead || r.Op == opOpen || r.Op == opClose {
		want = append(want, "I/O error", "disk I/O", "manifest_mismatch", "integrity_check_failed")
	}
	for _, w := range want {
		if strings.Contains(msg, w) {
			return ""
		}
	}
	return fmt.Sprintf("error does not say what failed (want one of %q): %s", want, msg)
}

func (f *faultTally) record(t *testing.T, rule FailOn, err error, fs *faultFS, violation func(string, ...any)) {
	f.trials++
	switch {
	case len(fs.Hits()) == 0:
		f.notReached++
		if err != nil {
			violation("failed without any fault injected: %v", err)
		}
	case err == nil:
		f.absorbed++
	default:
		f.failed++
		if f.examples == nil {
			f.examples = map[string]string{}
		}
		key := rule.Op
		if rule.ShortWrite {
			key += " short"
			if rule.Silent {
				key += " silent"
			}
		}
		if _, ok := f.examples[key]; !ok {
			f.examples[key] = err.Error()
		}
		if m := checkMessage(err, rule); m != "" {
			violation("%s", m)
		}
	}
}

// cleanCounts runs op once on a counting faultFS and returns the counts.
func cleanCounts(t *testing.T, op func(fs *faultFS) error) map[string]int {
	t.Helper()
	fs := newFaultFS(osFS)
	if err := op(fs); err != nil {
		t.Fatalf("clean run on the counting filesystem: %v", err)
	}
	t.Logf("a clean run makes: %s", countsString(fs.Counts()))
	return fs.Counts()
}

func withFS(cfg backup.Config, fs *faultFS) backup.Config {
	cfg.FS = fs
	return cfg
}

func TestFaultCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := genRoot(t, 0, 0, 2)
	cfg := configOf(r)
	opts := backup.CreateOptions{IncludeChroma: true}
	if _, err := backup.Create(ctx, cfg, opts); err != nil {
		t.Fatal(err)
	}
	fp := fingerprint(t, r.DBPath)
	chroma := treeState(t, r.ChromaPath)
	counts := cleanCounts(t, func(fs *faultFS) error { _, err := backup.Create(ctx, withFS(cfg, fs), opts); return err })
	tl := &faultTally{op: "create"}

	for _, kind := range faultKinds {
		for _, n := range sampleN(counts[kind.Op], faultSamples()) {
			rule := kind
			rule.N = n
			violation := func(format string, a ...any) {
				tl.violations++
				t.Errorf("create with %v: %s", rule, fmt.Sprintf(format, a...))
			}
			fs := newFaultFS(osFS, rule)
			meta, err := backup.Create(ctx, withFS(cfg, fs), opts)
			tl.record(t, rule, err, fs, violation)
			if err == nil && (meta == nil || !meta.Validated) {
				violation("succeeded without a validated snapshot")
			}
			if err != nil && meta != nil && meta.Validated {
				t.Logf("create with %v: error after the snapshot was validated and placed: %v", rule, err)
			}
			for _, bad := range checkAllValid(t, r.BackupDir, nil, false) {
				violation("invalid snapshot under a valid stamp: %s (faults: %v)", bad, fs.Hits())
			}
			if l := leftovers(t, r.BackupDir); len(l) > 0 {
				violation("left %v in the backup directory", l)
			}
			if fingerprint(t, r.DBPath) != fp || !sameState(treeState(t, r.ChromaPath), chroma) {
				violation("the live state changed")
			}
			if _, err := backup.Create(ctx, withFS(cfg, newFaultFS(osFS)), opts); err != nil {
				violation("the next clean create failed: %v", err)
			}
			after := stampEntries(t, r.BackupDir)
			removeSnapshotsExcept(t, r.BackupDir, after[len(after)-1])
		}
	}
	tl.log(t)
}

func TestFaultRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := genRoot(t, 0, 0, 2)
	cfg := configOf(r)
	s, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	fpS := fingerprint(t, r.DBPath)
	sDir := snapshot.Dir(r.BackupDir, s.Stamp)
	chromaS := contentState(t, sDir+"/"+snapshot.ChromaDir)
	opts := restore.Options{ConfirmServiceStopped: true}
	mutateLive(t, r, 0)
	counts := cleanCounts(t, func(fs *faultFS) error { _, err := restore.Run(ctx, withFS(cfg, fs), s.Stamp, opts); return err })
	tl := &faultTally{op: "restore"}
	valid := map[string]bool{}
	i := 0
	for _, kind := range faultKinds {
		for _, n := range sampleN(counts[kind.Op], max(faultSamples()*2/3, 2)) {
			i++
			rule := kind
			rule.N = n
			violation := func(format string, a ...any) {
				tl.violations++
				t.Errorf("restore with %v: %s", rule, fmt.Sprintf(format, a...))
			}
			removeSnapshotsExcept(t, r.BackupDir, s.Stamp)
			mutateLive(t, r, i)
			fpBefore := fingerprint(t, r.DBPath)
			chromaBefore := contentState(t, r.ChromaPath)
			fs := newFaultFS(osFS, rule)
			res, err := restore.Run(ctx, withFS(cfg, fs), s.Stamp, opts)
			tl.record(t, rule, err, fs, violation)
			if ok, detail := liveIntegrity(r.DBPath); !ok {
				violation("live database integrity_check: %s", detail)
			}
			fp := fingerprint(t, r.DBPath)
			chroma := contentState(t, r.ChromaPath)
			chromaOld, chromaNew := sameState(chroma, chromaBefore), sameState(chroma, chromaS)
			switch {
			case err == nil && (fp != fpS || !chromaNew):
				violation("restore succeeded but the live state is not the snapshot's")
			case fp != fpBefore && fp != fpS:
				violation("live database is neither the state before nor the snapshot's")
			case !chromaOld && !chromaNew:
				violation("live Chroma directory is neither the state before nor the snapshot's: %s", diffState(chromaBefore, chroma))
			}
			if fp != fpBefore || !chromaOld {
				if res == nil || res.PreRestoreSnapshot == nil {
					violation("the live state changed without a pre-restore snapshot")
				} else if dir := snapshot.Dir(r.BackupDir, *res.PreRestoreSnapshot); snapshotFingerprint(t, dir) != fpBefore {
					violation("the pre-restore snapshot does not hold the state before")
				}
				if err != nil && fp == fpS && chromaOld {
					t.Logf("restore with %v: failed with the database restored and the Chroma directory not: %v", rule, err)
				}
			}
			for _, bad := range checkAllValid(t, r.BackupDir, valid, false) {
				violation("invalid snapshot under a valid stamp: %s (faults: %v)", bad, fs.Hits())
			}
			if l := leftovers(t, r.BackupDir); len(l) > 0 {
				violation("left %v in the backup directory", l)
			}
			if l := liveLeftovers(t, r); len(l) > 0 {
				violation("left %v beside the live paths", l)
			}
			if _, err := restore.Run(ctx, withFS(cfg, newFaultFS(osFS)), s.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true}); err != nil {
				violation("the next clean restore failed: %v", err)
			} else if fingerprint(t, r.DBPath) != fpS {
				violation("the next clean restore did not restore the database")
			}
		}
	}
	tl.log(t)
}

func TestFaultPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPruneFixture(t, 16)
	p.reset(t)
	kept := p.keptSet(t)
	policy := backup.PruneOptions{Policy: backup.DefaultPolicy()}
	counts := cleanCounts(t, func(fs *faultFS) error { _, err := backup.PruneDir(ctx, fs, p.backupDir, policy); return err })
	tl := &faultTally{op: "prune"}
	for _, kind := range faultKinds {
		for _, n := range sampleN(counts[kind.Op], faultSamples()) {
			rule := kind
			rule.N = n
			violation := func(format string, a ...any) {
				tl.violations++
				t.Errorf("prune with %v: %s", rule, fmt.Sprintf(format, a...))
			}
			p.reset(t)
			fs := newFaultFS(osFS, rule)
			_, err := backup.PruneDir(ctx, fs, p.backupDir, policy)
			tl.record(t, rule, err, fs, violation)
			for _, bad := range checkAllValid(t, p.backupDir, nil, true) {
				violation("incomplete snapshot under a valid stamp: %s", bad)
			}
			left := stampEntries(t, p.backupDir)
			for _, k := range kept {
				if !slices.Contains(left, k) {
					violation("snapshot %s, which the policy keeps, is gone", k)
				}
			}
			if _, err := backup.PruneDir(ctx, newFaultFS(osFS), p.backupDir, policy); err != nil {
				violation("the next clean prune failed: %v", err)
			}
			if got := stampEntries(t, p.backupDir); !slices.Equal(got, kept) {
				violation("after a clean prune snapshots/ holds %v, want %v", got, kept)
			}
			if l := leftovers(t, p.backupDir); len(l) > 0 {
				violation("the clean prune left %v", l)
			}
		}
	}
	tl.log(t)
}

// TestFaultPruneInvalidNeverDeletesUnreadable: with --prune-invalid, a
// snapshot that could not be read (a transient EIO, EMFILE, EACCES) must not
// be taken for an invalid one and deleted.
func TestFaultPruneInvalidNeverDeletesUnreadable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPruneFixture(t, 12)
	p.reset(t)
	kept := p.keptSet(t)
	policy := backup.PruneOptions{Policy: backup.DefaultPolicy(), PruneInvalid: true}
	counts := cleanCounts(t, func(fs *faultFS) error { _, err := backup.PruneDir(ctx, fs, p.backupDir, policy); return err })
	lost := 0
	trials := 0
	var example string
	for _, op := range []string{opOpen, opRead} {
		for _, n := range sampleN(counts[op], faultSamples()) {
			trials++
			p.reset(t)
			fs := newFaultFS(osFS, FailOn{Op: op, N: n, Err: syscall.EIO})
			res, err := backup.PruneDir(ctx, fs, p.backupDir, policy)
			left := stampEntries(t, p.backupDir)
			for _, k := range kept {
				if !slices.Contains(left, k) {
					lost++
					if example == "" {
						example = fmt.Sprintf("%s#%d EIO (%v): valid snapshot %s, which the policy keeps, was deleted as invalid (err=%v, invalid=%v)", op, n, fs.Hits(), k, err, res.Invalid)
					}
				}
			}
		}
	}
	t.Logf("FIGURE fault prune-invalid: trials=%d valid-kept-snapshots-deleted=%d", trials, lost)
	// Found by this test and fixed in 95df74b (an invalid snapshot is
	// checked again before it is deleted).
	if lost > 0 {
		t.Errorf("prune --prune-invalid deleted a valid snapshot that it merely failed to read in %d of %d single-EIO trials; e.g. %s", lost, trials, example)
	}
}

// TestFaultSilentShortWrite: a filesystem that writes less than asked and
// reports success breaks io.Writer's contract, but network and FUSE
// filesystems have done it. The code must still never put a torn file in a
// snapshot that looks valid: whatever it wrote is validated before the
// snapshot is placed, or the short count is noticed.
func TestFaultSilentShortWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := genRoot(t, 0, 0, 2)
	cfg := configOf(r)
	opts := backup.CreateOptions{IncludeChroma: true}
	counts := cleanCounts(t, func(fs *faultFS) error { _, err := backup.Create(ctx, withFS(cfg, fs), opts); return err })
	trials, torn := 0, 0
	var example string
	for _, n := range sampleN(counts[opWrite], scaled(8, 1000)) {
		trials++
		rule := FailOn{Op: opWrite, N: n, ShortWrite: true, Silent: true}
		fs := newFaultFS(osFS, rule)
		_, err := backup.Create(ctx, withFS(cfg, fs), opts)
		for _, bad := range checkAllValid(t, r.BackupDir, nil, false) {
			torn++
			if example == "" {
				example = fmt.Sprintf("%v at %v (create err=%v): %s", rule, fs.Hits(), err, bad)
			}
		}
		removeSnapshotsExcept(t, r.BackupDir)
	}
	t.Logf("FIGURE fault silent-short-write: trials=%d invalid-snapshots-placed=%d", trials, torn)
	// Found by this test and fixed in 95df74b (durable checks the count
	// Write returns).
	if torn > 0 {
		t.Errorf("a silently short write put an invalid snapshot under a valid stamp in %d of %d trials: %s", torn, trials, example)
	}
}
