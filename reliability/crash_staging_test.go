package reliability_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/restore"
)

// Rule 10 for a restore killed while it stages Chroma, before its
// pre-restore snapshot: nothing live has changed, the staging directory is
// garbage, and the next restore must take its pre-restore snapshot with
// Chroma (an earlier implementation took the staging directory for an
// interrupted swap, left Chroma out of the safety snapshot, and replaced
// the intact live Chroma directory: data in no snapshot was lost).

// runAndKillWhen starts the CLI and SIGKILLs it as soon as cond holds
// (polled every millisecond), or lets it finish.
func runAndKillWhen(t *testing.T, cond func() bool, args ...string) killRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), trialTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin(t), args...)
	cmd.Env = cliEnv(t)
	var errb strings.Builder
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			kr := killRun{delay: time.Since(start), stderr: errb.String()}
			if ee, ok := err.(*exec.ExitError); ok {
				kr.exitCode = ee.ExitCode()
			}
			return kr
		case <-tick.C:
			if cond() {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return killRun{delay: time.Since(start), killed: true, stderr: errb.String()}
			}
		}
	}
}

// restoreOutput is the JSON a restore prints.
type restoreOutput struct {
	PreRestoreSnapshot *string `json:"pre_restore_snapshot"`
	Interrupted        *struct {
		PreRestoreSnapshot *string `json:"pre_restore_snapshot"`
	} `json:"interrupted_restore"`
}

// heldBy reports whether the snapshot stamp holds the database fingerprint
// fp and the Chroma state chroma.
func heldBy(t *testing.T, backupDir, stamp, fp string, chroma map[string]string) bool {
	dir := snapshot.Dir(backupDir, stamp)
	dbOK := snapshotFingerprint(t, dir) == fp
	got := contentState(t, filepath.Join(dir, snapshot.ChromaDir))
	if !dbOK || !sameState(got, chroma) {
		t.Logf("snapshot %s does not hold the state: database same %v; Chroma %s", stamp, dbOK, diffState(chroma, got))
		return false
	}
	return true
}

func TestCrashRestoreDuringStaging(t *testing.T) {
	if testing.Short() {
		t.Skip("crash trials are not short")
	}
	t.Parallel()
	r := genRoot(t, crashDBBytes, crashChromaBytes, crashSegments)
	_, res := timed(t, "create", "--include-chroma", "--root", r.Dir)
	var s backup.Metadata
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		t.Fatal(err)
	}
	fpS := fingerprint(t, r.DBPath)
	chromaS := contentState(t, filepath.Join(snapshot.Dir(r.BackupDir, s.Stamp), snapshot.ChromaDir))
	args := []string{"restore", s.Stamp, "--confirm-service-stopped", "--root", r.Dir}
	staging := filepath.Join(r.ChromaPath, snapshot.ChromaRestoreStaging)
	// The kill lands once the staging directory holds its first segment
	// directory: in the middle of the Chroma copy.
	staged := func() bool {
		entries, err := os.ReadDir(staging)
		return err == nil && len(entries) > 0
	}
	c := tally{op: "restore-during-staging"}
	for i := range scaled(3, 20) {
		mutateLive(t, r, 100+i)
		fpBefore, chromaBefore := fingerprint(t, r.DBPath), contentState(t, r.ChromaPath)
		kr := runAndKillWhen(t, staged, args...)
		fail := c.record(t, i, kr)
		if !kr.killed {
			t.Logf("trial %d: the restore finished before its staging was seen", i)
			removeSnapshotsExcept(t, r.BackupDir, s.Stamp)
			continue
		}
		if fingerprint(t, r.DBPath) != fpBefore || !sameState(contentState(t, r.ChromaPath), chromaBefore) {
			fail("a restore killed while staging changed the live state")
		}
		rr := runCLI(t, args...)
		if rr.code != 0 {
			fail("rerun: exit %d: %s", rr.code, rr.stderr)
			break
		}
		var out restoreOutput
		if err := json.Unmarshal([]byte(rr.stdout), &out); err != nil {
			t.Fatalf("rerun output: %v\n%s", err, rr.stdout)
		}
		if out.Interrupted != nil {
			fail("the rerun took a killed staging for an interrupted swap")
		}
		if out.PreRestoreSnapshot == nil || !heldBy(t, r.BackupDir, *out.PreRestoreSnapshot, fpBefore, chromaBefore) {
			fail("the live state before the restore (Chroma included) is in no pre-restore snapshot the rerun names")
		}
		if fingerprint(t, r.DBPath) != fpS || !sameState(contentState(t, r.ChromaPath), chromaS) {
			fail("the rerun did not restore the snapshot")
		}
		if _, err := os.Stat(staging); err == nil {
			fail("the rerun left %s", staging)
		}
		removeSnapshotsExcept(t, r.BackupDir, s.Stamp)
		if t.Failed() {
			break
		}
	}
	c.log(t)
	if c.killed == 0 {
		t.Fatal("no kill landed during staging")
	}
}

// After a restore killed during its swap (the journal says the swap began),
// the next restore completes it and names the pre-restore snapshot that
// holds the state from before.
func TestRestoreNamesTheSnapshotOfAnInterruptedSwap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := genRoot(t, 0, 0, 4)
	cfg := configOf(r)
	s, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
	must(t, err)
	mutateLive(t, r, 0)
	p, err := backup.Create(ctx, cfg, backup.CreateOptions{Kind: backup.KindPreRestore, IncludeChroma: true})
	must(t, err)
	// What the killed restore left: its journal in the swap phase, its
	// staged copy, and a half-cleared live Chroma directory.
	journal := map[string]any{"stamp": s.Stamp, "phase": "swapping", "pre_restore_snapshot": p.Stamp}
	data, _ := json.Marshal(journal)
	must(t, os.WriteFile(filepath.Join(r.BackupDir, restore.JournalFile), data, 0o600))
	copyTree(t, filepath.Join(snapshot.Dir(r.BackupDir, s.Stamp), snapshot.ChromaDir), filepath.Join(r.ChromaPath, snapshot.ChromaRestoreStaging))
	halfClear(t, r)
	res, err := restore.Run(ctx, cfg, s.Stamp, restore.Options{ConfirmServiceStopped: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Interrupted == nil || res.Interrupted.PreRestoreSnapshot == nil || *res.Interrupted.PreRestoreSnapshot != p.Stamp {
		t.Fatalf("result does not name the interrupted restore's pre-restore snapshot %s: %+v", p.Stamp, res.Interrupted)
	}
	if !sameState(contentState(t, r.ChromaPath), contentState(t, filepath.Join(snapshot.Dir(r.BackupDir, s.Stamp), snapshot.ChromaDir))) {
		t.Fatal("the interrupted swap was not completed")
	}
	if _, err := os.Stat(filepath.Join(r.BackupDir, restore.JournalFile)); err == nil {
		t.Fatal("a completed restore left its journal")
	}
}

func halfClear(t *testing.T, r *sample.Root) {
	t.Helper()
	entries, err := os.ReadDir(r.ChromaPath)
	must(t, err)
	removed := 0
	for _, e := range entries {
		if e.IsDir() && e.Name() != snapshot.ChromaRestoreStaging && removed < 2 {
			must(t, os.RemoveAll(filepath.Join(r.ChromaPath, e.Name())))
			removed++
		}
	}
}

// interruptedSwap puts r where a restore of s killed during its Chroma swap
// leaves it: its pre-restore snapshot taken (returned), the database
// restored, the journal in the swap phase, the staged Chroma copy in
// place, and the live Chroma directory partly cleared. With dbFirst, the
// entries cleared include chroma.sqlite3 (commitChroma clears in name
// order, and segment names starting 0-9, a, b sort before it).
func interruptedSwap(t *testing.T, r *sample.Root, s *backup.Metadata, withoutChromaDB bool) *backup.Metadata {
	t.Helper()
	ctx := context.Background()
	cfg := configOf(r)
	p, err := backup.Create(ctx, cfg, backup.CreateOptions{Kind: backup.KindPreRestore, IncludeChroma: true})
	must(t, err)
	if _, err := restore.Run(ctx, cfg, s.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true, Chroma: restore.ChromaSkip}); err != nil {
		t.Fatal(err)
	}
	journal, _ := json.Marshal(map[string]any{"stamp": s.Stamp, "phase": "swapping", "pre_restore_snapshot": p.Stamp})
	must(t, os.WriteFile(filepath.Join(r.BackupDir, restore.JournalFile), journal, 0o600))
	staging := filepath.Join(r.ChromaPath, snapshot.ChromaRestoreStaging)
	copyTree(t, filepath.Join(snapshot.Dir(r.BackupDir, s.Stamp), snapshot.ChromaDir), staging)
	halfClear(t, r)
	if withoutChromaDB {
		must(t, os.Remove(filepath.Join(r.ChromaPath, snapshot.ChromaDBName)))
	}
	releaseLive(r)
	return p
}

// releaseLive closes the descriptors this test process keeps of r's live
// database files after library calls (see sqlitedb.CloseLiveFile), so that
// a restore run by the command-line tool does not see this process as the
// service still holding them.
func releaseLive(r *sample.Root) {
	sqlitedb.CloseLiveFile(r.DBPath)
	sqlitedb.CloseLiveFile(filepath.Join(r.ChromaPath, snapshot.ChromaDBName))
}

// A swap killed after chroma.sqlite3 went (the live directory no longer
// looks like a Chroma directory) is still this tool's own state: the next
// restore accepts it, completes the swap and names the snapshot that holds
// the state before.
func TestRestoreCompletesASwapKilledAfterChromaSQLiteWent(t *testing.T) {
	t.Parallel()
	r := genRoot(t, 0, 0, 4)
	s, err := backup.Create(context.Background(), configOf(r), backup.CreateOptions{IncludeChroma: true})
	must(t, err)
	mutateLive(t, r, 0)
	p := interruptedSwap(t, r, s, true)
	res := runCLI(t, "restore", s.Stamp, "--confirm-service-stopped", "--root", r.Dir)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	var out restoreOutput
	must(t, json.Unmarshal([]byte(res.stdout), &out))
	if out.Interrupted == nil || out.Interrupted.PreRestoreSnapshot == nil || *out.Interrupted.PreRestoreSnapshot != p.Stamp {
		t.Fatalf("the result does not name %s: %s", p.Stamp, res.stdout)
	}
	if !sameState(contentState(t, r.ChromaPath), contentState(t, filepath.Join(snapshot.Dir(r.BackupDir, s.Stamp), snapshot.ChromaDir))) {
		t.Fatal("the swap was not completed")
	}
}

// A restore that leaves Chroma out cannot complete an interrupted swap: it
// refuses (exit 2) instead of reporting success over a half-replaced
// Chroma directory; and a retry that fails before its swap keeps the
// journal's record of the interrupted one.
func TestInterruptedSwapIsNotForgotten(t *testing.T) {
	t.Parallel()
	r := genRoot(t, 0, 0, 4)
	s, err := backup.Create(context.Background(), configOf(r), backup.CreateOptions{IncludeChroma: true})
	must(t, err)
	mutateLive(t, r, 0)
	p := interruptedSwap(t, r, s, false)
	journal := filepath.Join(r.BackupDir, restore.JournalFile)

	res := runCLI(t, "restore", s.Stamp, "--confirm-service-stopped", "--no-chroma", "--root", r.Dir)
	if res.code != 2 || !strings.Contains(res.stderr, "interrupted") || !strings.Contains(res.stderr, p.Stamp) {
		t.Fatalf("--no-chroma over an interrupted swap: exit %d: %s", res.code, res.stderr)
	}
	// A retry whose staging fails (a flipped byte in a segment file of
	// the snapshot, same size) changes nothing and keeps the record.
	seg := firstSegmentFile(t, filepath.Join(snapshot.Dir(r.BackupDir, s.Stamp), snapshot.ChromaDir))
	orig, err := os.ReadFile(seg)
	must(t, err)
	bad := append([]byte{}, orig...)
	bad[len(bad)/2] ^= 0xff
	must(t, os.WriteFile(seg, bad, 0o600))
	res = runCLI(t, "restore", s.Stamp, "--confirm-service-stopped", "--root", r.Dir)
	if res.code == 0 {
		t.Fatal("a restore from a damaged snapshot succeeded")
	}
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("the failed retry removed the journal of the interrupted swap: %v", err)
	}
	must(t, os.WriteFile(seg, orig, 0o600))
	res = runCLI(t, "restore", s.Stamp, "--confirm-service-stopped", "--root", r.Dir)
	var out restoreOutput
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &out) != nil || out.Interrupted == nil ||
		out.Interrupted.PreRestoreSnapshot == nil || *out.Interrupted.PreRestoreSnapshot != p.Stamp {
		t.Fatalf("the restore after the failed retry: exit %d, %s %s", res.code, res.stdout, res.stderr)
	}
}

func firstSegmentFile(t *testing.T, dir string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && found == "" && !d.IsDir() && filepath.Base(p) == "data_level0.bin" {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatal("no segment file")
	}
	return found
}

// A journal that is not a regular file (a FIFO) or not JSON is refused at
// once: no hang holding the lock, no guess.
func TestRestoreRefusesAnUnreadableJournal(t *testing.T) {
	t.Parallel()
	r := genRoot(t, 0, 0, 2)
	s, err := backup.Create(context.Background(), configOf(r), backup.CreateOptions{IncludeChroma: true})
	must(t, err)
	journal := filepath.Join(r.BackupDir, restore.JournalFile)
	for name, plant := range map[string]func(){
		"fifo":    func() { must(t, syscall.Mkfifo(journal, 0o600)) },
		"garbage": func() { must(t, os.WriteFile(journal, []byte("{not json"), 0o600)) },
	} {
		_ = os.Remove(journal)
		plant()
		start := time.Now()
		res := runCLI(t, "restore", s.Stamp, "--confirm-service-stopped", "--root", r.Dir)
		if res.code != 2 || !strings.Contains(res.stderr, restore.JournalFile) || time.Since(start) > 30*time.Second {
			t.Fatalf("%s journal: exit %d after %v: %s", name, res.code, time.Since(start), res.stderr)
		}
	}
}
