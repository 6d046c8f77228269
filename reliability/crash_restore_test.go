package reliability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/restore"
)

// Crash trials of restore (the harness is in crash_test.go).

func TestCrashRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("crash trials are not short")
	}
	t.Parallel()
	rnd := rng(t)
	r := genRoot(t, crashDBBytes, crashChromaBytes, crashSegments)
	cfg := configOf(r)
	_, res := timed(t, "create", "--include-chroma", "--root", r.Dir)
	var s backup.Metadata
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		t.Fatal(err)
	}
	fpS := fingerprint(t, r.DBPath)
	chromaS := contentState(t, filepath.Join(snapshot.Dir(r.BackupDir, s.Stamp), snapshot.ChromaDir))
	args := []string{"restore", s.Stamp, "--confirm-service-stopped", "--root", r.Dir}

	rt := measure(t, func(i int) { mutateLive(t, r, -10-i) }, args...)
	if fingerprint(t, r.DBPath) != fpS {
		t.Fatal("a clean restore did not bring the snapshot's database back")
	}
	c := tally{op: "restore", duration: rt.killRange()}
	t.Logf("killing restore at uniform times in [0, %v] at first", rt.killRange())
	removeSnapshotsExcept(t, r.BackupDir, s.Stamp)

	for i := range crashTrials() {
		mutateLive(t, r, i)
		fpBefore := fingerprint(t, r.DBPath)
		chromaBefore := contentState(t, r.ChromaPath)
		if fpBefore == fpS || sameState(chromaBefore, chromaS) {
			t.Fatal("the live state did not change before the trial")
		}
		kr := runAndKill(t, delayIn(rnd, rt.killRange()), args...)
		fail := c.record(t, i, kr)
		if len(leftovers(t, r.BackupDir)) > 0 || len(liveLeftovers(t, r)) > 0 {
			c.leftoversAfterKill++
		}
		// The live database opens, passes integrity_check, and is either
		// the state before or the snapshot's.
		if ok, detail := liveIntegrity(r.DBPath); !ok {
			fail("live database integrity_check: %s", detail)
		}
		fp := fingerprint(t, r.DBPath)
		chroma := contentState(t, r.ChromaPath)
		chromaOld, chromaNew := sameState(chroma, chromaBefore), sameState(chroma, chromaS)
		changed := fp != fpBefore || !chromaOld
		switch {
		case fp == fpBefore:
		case fp == fpS:
			c.changedLive++
		default:
			fail("live database is neither the state before nor the snapshot's")
		}
		if !chromaOld && !chromaNew {
			c.chromaMidSwap++
			t.Logf("restore trial %d (kill at %v): Chroma directory between states: %s", i, kr.delay, diffState(chromaS, chroma))
		}
		// Whenever the live state changed, a pre-restore snapshot holds
		// the state before.
		if changed {
			found := false
			for _, st := range snapshotsOfKind(t, cfg, backup.KindPreRestore) {
				dir := snapshot.Dir(r.BackupDir, st)
				if snapshotFingerprint(t, dir) == fpBefore && sameState(contentState(t, filepath.Join(dir, snapshot.ChromaDir)), chromaBefore) {
					found = true
				}
			}
			if !found {
				fail("the live state changed and no pre-restore snapshot holds the state before")
			}
		}
		for _, bad := range checkAllValid(t, r.BackupDir, nil, false) {
			fail("invalid snapshot under a valid stamp: %s", bad)
		}
		// The rerun succeeds, restores the snapshot, and cleans up.
		rr := rt.timedRun(t, args...)
		if rr.code != 0 && !chromaOld && !chromaNew && strings.Contains(rr.stderr, "pre-restore safety snapshot failed") {
			// The known bug restore-blocked-after-chroma-swap-kill (see
			// TestCrashRestoreAfterChromaSwapKill): the killed run's own
			// pre-restore snapshot holds the state before, so the way out
			// is safe; take it and go on with the trials.
			c.blocked++
			t.Logf("restore trial %d (kill at %v): the rerun is blocked by the half-swapped Chroma directory: %s", i, kr.delay, strings.TrimSpace(rr.stderr))
			rr = runCLI(t, append(slices.Clone(args), "--no-pre-snapshot")...)
		}
		if rr.code != 0 {
			fail("rerun: exit %d: %s", rr.code, rr.stderr)
			t.Logf("the root is left in a state restore does not repair; stopping the trials (replay with the seed above)")
			break
		}
		// Rule 10: the state before the killed restore is live, or held by
		// the pre-restore snapshot the rerun names: its own when the kill
		// left the live state intact, the killed run's when it had begun
		// swapping.
		var out restoreOutput
		if err := json.Unmarshal([]byte(rr.stdout), &out); err != nil {
			fail("rerun output: %v", err)
		} else if !changed {
			// Its own pre-restore snapshot holds it; or, when the kill
			// landed after the killed run's journal said "swapping" and
			// before its first rename, the rerun treats the swap as
			// interrupted (its own snapshot then leaves Chroma out, which
			// may be half replaced) and names the killed run's, which does.
			own := out.PreRestoreSnapshot != nil && heldBy(t, r.BackupDir, *out.PreRestoreSnapshot, fpBefore, chromaBefore)
			killed := out.Interrupted != nil && out.Interrupted.PreRestoreSnapshot != nil &&
				heldBy(t, r.BackupDir, *out.Interrupted.PreRestoreSnapshot, fpBefore, chromaBefore)
			if !own && !killed {
				fail("the kill left the live state intact, and no pre-restore snapshot the rerun names holds it")
			}
		} else if !chromaNew || fp != fpS {
			if out.Interrupted == nil || out.Interrupted.PreRestoreSnapshot == nil ||
				!heldBy(t, r.BackupDir, *out.Interrupted.PreRestoreSnapshot, fpBefore, chromaBefore) {
				fail("the kill left the live state half replaced, and the rerun names no pre-restore snapshot that holds the state before")
			}
		}
		if fingerprint(t, r.DBPath) != fpS {
			fail("rerun did not restore the snapshot's database: %s", rr.stderr)
		}
		if now := contentState(t, r.ChromaPath); !sameState(now, chromaS) {
			fail("rerun did not restore the snapshot's Chroma directory: %s; %s", diffState(chromaS, now), rr.stderr)
		}
		if ok, detail := liveIntegrity(r.DBPath); !ok {
			fail("after rerun: live database integrity_check: %s", detail)
		}
		if left := leftovers(t, r.BackupDir); len(left) > 0 {
			fail("rerun left %v in the backup directory", left)
		}
		if left := liveLeftovers(t, r); len(left) > 0 {
			c.liveTempLeft++
			t.Logf("restore trial %d (kill at %v): temporary files left beside the live paths after the rerun: %v", i, kr.delay, left)
			for _, l := range left {
				if strings.HasSuffix(l, ".atocore-restore") {
					fail("rerun left the Chroma staging directory %s", l)
				}
			}
			removeLiveTemps(t, r)
		}
		removeSnapshotsExcept(t, r.BackupDir, s.Stamp)
		if t.Failed() && !longMode() {
			break
		}
	}
	c.duration = rt.killRange()
	c.log(t)
	var bugs []string
	if c.liveTempLeft > 0 {
		bugs = append(bugs, fmt.Sprintf("restore-temp-leftovers: %d of %d killed restores left temporary database/registry files (.<name>.restore-<hex>) beside the live paths that no later run removes", c.liveTempLeft, c.trials))
	}
	if c.blocked > 0 {
		bugs = append(bugs, fmt.Sprintf("restore-blocked-after-chroma-swap-kill: %d of %d kills landed in the Chroma swap and blocked the next restore until --no-pre-snapshot", c.blocked, c.trials))
	}
	if len(bugs) > 0 {
		knownBug(t, "restore", "%s", strings.Join(bugs, "; "))
	}
}

// removeLiveTemps deletes the temporary files restore leaves beside the live paths.
func removeLiveTemps(t *testing.T, r *sample.Root) {
	for _, dir := range []string{filepath.Dir(r.DBPath), filepath.Dir(r.RegistryPath)} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".restore-") {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// TestCrashRestoreAfterChromaSwapKill puts the live state where a restore
// killed in the middle of its Chroma swap leaves it (the crash trials hit
// that window about once in 50 kills): the database already restored, the
// live Chroma directory partly cleared, the staged copy complete in
// .atocore-restore, and its journal in the swap phase. Running the same
// restore again must finish the job.
func TestCrashRestoreAfterChromaSwapKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := genRoot(t, 0, 0, 4)
	cfg := configOf(r)
	s, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
	must(t, err)
	sDir := snapshot.Dir(r.BackupDir, s.Stamp)
	fpS := fingerprint(t, r.DBPath)
	mutateLive(t, r, 0)
	// The killed run took its pre-restore snapshot, committed the database,
	// staged Chroma and had removed half of the old Chroma entries.
	p, err := backup.Create(ctx, cfg, backup.CreateOptions{Kind: backup.KindPreRestore, IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(ctx, cfg, s.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true, Chroma: restore.ChromaSkip}); err != nil {
		t.Fatal(err)
	}
	// Its journal said that the swap had begun (rule 10).
	journal, _ := json.Marshal(map[string]any{"stamp": s.Stamp, "phase": "swapping", "pre_restore_snapshot": p.Stamp})
	must(t, os.WriteFile(filepath.Join(r.BackupDir, restore.JournalFile), journal, 0o600))
	copyTree(t, filepath.Join(sDir, snapshot.ChromaDir), filepath.Join(r.ChromaPath, snapshot.ChromaRestoreStaging))
	entries, err := os.ReadDir(r.ChromaPath)
	must(t, err)
	removed := 0
	for _, e := range entries {
		if e.IsDir() && e.Name() != snapshot.ChromaRestoreStaging && removed < 2 {
			must(t, os.RemoveAll(filepath.Join(r.ChromaPath, e.Name())))
			removed++
		}
	}
	releaseLive(r)
	res := runCLI(t, "restore", s.Stamp, "--confirm-service-stopped", "--root", r.Dir)
	if res.code != 0 {
		rescue := runCLI(t, "restore", s.Stamp, "--confirm-service-stopped", "--no-pre-snapshot", "--root", r.Dir)
		knownBug(t, "restore-blocked-after-chroma-swap-kill", "after a restore killed during its Chroma swap, the same restore fails (exit %d) because its pre-restore snapshot of the half-swapped Chroma directory fails validation, and the live Chroma directory stays broken (with --no-pre-snapshot: exit %d): %s", res.code, rescue.code, strings.TrimSpace(res.stderr))
	}
	if fingerprint(t, r.DBPath) != fpS || !sameState(contentState(t, r.ChromaPath), contentState(t, filepath.Join(sDir, snapshot.ChromaDir))) {
		t.Fatal("the rerun did not restore the snapshot")
	}
}
