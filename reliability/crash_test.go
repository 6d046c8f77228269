package reliability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
)

// Crash trials: the CLI runs as a subprocess and is SIGKILLed at a uniform
// random moment of its run (the run's duration is measured once first).
// After each kill the promises are checked, then the same command is run
// again and must succeed and clean up what the killed run left.
//
// Sizes: a ~24 MiB database and ~16 MiB of Chroma make every run last long
// enough (about a second or more) for the kills to land all over it.
const (
	crashDBBytes     = 24 << 20
	crashChromaBytes = 16 << 20
	crashSegments    = 6
	// trialTimeout bounds one killed run and one rerun.
	trialTimeout = 2 * time.Minute
)

// crashTrials is the number of kills per operation.
// ATOCORE_CRASH_TRIALS overrides it.
func crashTrials() int {
	if n, err := strconv.Atoi(os.Getenv("ATOCORE_CRASH_TRIALS")); err == nil && n > 0 {
		return n
	}
	return scaled(10, 50)
}

// killRun is the outcome of a run that was to be killed.
type killRun struct {
	delay    time.Duration
	killed   bool // the process was still running and died of SIGKILL
	exitCode int  // when it finished first
	stderr   string
}

// runAndKill starts the CLI and SIGKILLs it after delay.
func runAndKill(t *testing.T, delay time.Duration, args ...string) killRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), trialTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin(t), args...)
	cmd.Env = cliEnv(t)
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	err := cmd.Wait()
	timer.Stop()
	kr := killRun{delay: delay, stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			kr.killed = true
			return kr
		}
		kr.exitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return kr
}

// timed runs the CLI to completion, requires exit 0, and returns how long it took.
func timed(t *testing.T, args ...string) (time.Duration, cliResult) {
	t.Helper()
	start := time.Now()
	res := runCLI(t, args...)
	d := time.Since(start)
	if res.code != 0 {
		t.Fatalf("%v: exit %d\nstderr: %s", args, res.code, res.stderr)
	}
	return d, res
}

// runTimes tracks how long full runs of a command take on this machine
// now. Kills are drawn uniformly from [0, 1.1 × the median of the last five
// full runs]: a little past the usual end so that the last steps are hit
// too, and following the machine's load (other work runs beside the
// tests), since every trial's rerun is a full run that is timed as well.
type runTimes struct{ last []time.Duration }

func (r *runTimes) add(d time.Duration) {
	r.last = append(r.last, d)
	if len(r.last) > 5 {
		r.last = r.last[1:]
	}
}

func (r *runTimes) killRange() time.Duration {
	s := slices.Clone(r.last)
	slices.Sort(s)
	return s[len(s)/2] * 11 / 10
}

// measure runs the command three times to completion, each after prepare.
func measure(t *testing.T, prepare func(i int), args ...string) *runTimes {
	t.Helper()
	rt := &runTimes{}
	for i := range 3 {
		prepare(i)
		d, _ := timed(t, args...)
		rt.add(d)
	}
	t.Logf("%s runs took %v", args[0], rt.last)
	return rt
}

// timedRun runs the command to completion and records its duration.
func (r *runTimes) timedRun(t *testing.T, args ...string) cliResult {
	t.Helper()
	start := time.Now()
	res := runCLI(t, args...)
	if res.code == 0 {
		r.add(time.Since(start))
	}
	return res
}

// tally counts what the trials of one operation saw, for the log and the doc.
type tally struct {
	op                 string
	trials, killed     int
	finishedFirst      int
	leftoversAfterKill int // the killed run left staging/trash directories behind
	changedLive        int // restore: the live database was the snapshot's after the kill
	chromaMidSwap      int // restore: the Chroma directory was neither old nor new after the kill
	blocked            int // restore: the rerun refused to repair a half-swapped Chroma directory
	liveTempLeft       int // restore: temporary files left beside the live paths after the rerun
	violations         int
	duration           time.Duration
}

// record counts trial i, killed or finished first (a finish must exit 0),
// and returns the function that reports a violation of that trial.
func (c *tally) record(t *testing.T, i int, kr killRun) (fail func(format string, a ...any)) {
	t.Helper()
	c.trials++
	fail = func(format string, a ...any) {
		t.Helper()
		c.violations++
		t.Errorf("%s trial %d (kill at %v, killed=%v): %s", c.op, i, kr.delay, kr.killed, fmt.Sprintf(format, a...))
	}
	if kr.killed {
		c.killed++
	} else {
		c.finishedFirst++
		if kr.exitCode != 0 {
			fail("finished with exit %d: %s", kr.exitCode, kr.stderr)
		}
	}
	return fail
}

func (c tally) log(t *testing.T) {
	t.Logf("FIGURE crash %s: trials=%d killed=%d finished-before-kill=%d leftovers-after-kill=%d live-changed=%d chroma-mid-swap=%d rerun-blocked=%d live-temp-left=%d violations=%d (kills drawn from [0, %.2fs] at the end)",
		c.op, c.trials, c.killed, c.finishedFirst, c.leftoversAfterKill, c.changedLive, c.chromaMidSwap, c.blocked, c.liveTempLeft, c.violations, c.duration.Seconds())
}

// mutateLive gives the live state a new version: a marker memory in the
// database and rewritten Chroma segment bytes.
func mutateLive(t *testing.T, r *sample.Root, i int) {
	t.Helper()
	ctx := context.Background()
	if _, err := sample.InsertMemory(ctx, r.DBPath, sample.Memory{Content: fmt.Sprintf("CRASH-MARKER-%d-%d", i, time.Now().UnixNano()), Project: "crash-marker"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sample.ChangeChroma(ctx, r.ChromaPath, 0.3, int64(1000+i)); err != nil {
		t.Fatal(err)
	}
}

func delayIn(rnd *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rnd.Int64N(int64(d) + 1))
}

func TestCrashCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("crash trials are not short")
	}
	t.Parallel()
	rnd := rng(t)
	r := genRoot(t, crashDBBytes, crashChromaBytes, crashSegments)
	args := []string{"create", "--include-chroma", "--root", r.Dir}
	timed(t, args...) // a previous snapshot: later creates link unchanged files from it
	rt := measure(t, func(i int) { mutateLive(t, r, -10-i) }, args...)
	c := tally{op: "create", duration: rt.killRange()}
	t.Logf("killing create at uniform times in [0, %v] at first", rt.killRange())

	for i := range crashTrials() {
		mutateLive(t, r, i)
		fp := fingerprint(t, r.DBPath)
		before := stampEntries(t, r.BackupDir)
		kr := runAndKill(t, delayIn(rnd, rt.killRange()), args...)
		fail := c.record(t, i, kr)
		if len(leftovers(t, r.BackupDir)) > 0 {
			c.leftoversAfterKill++
		}
		// Every snapshot under a valid stamp is complete and valid, the
		// earlier ones included (new snapshots hardlink their files).
		checked := map[string]bool{}
		for _, bad := range checkAllValid(t, r.BackupDir, checked, false) {
			fail("invalid snapshot under a valid stamp: %s", bad)
		}
		if got := fingerprint(t, r.DBPath); got != fp {
			fail("create changed the live database")
		}
		if ok, detail := liveIntegrity(r.DBPath); !ok {
			fail("live database integrity_check: %s", detail)
		}
		// The next run cleans up and succeeds.
		res := rt.timedRun(t, args...)
		if res.code != 0 {
			fail("rerun: exit %d: %s", res.code, res.stderr)
		}
		var meta backup.Metadata
		if err := json.Unmarshal([]byte(res.stdout), &meta); err != nil || !meta.Validated {
			fail("rerun printed no validated metadata: %v %s", err, res.stdout)
		}
		if left := leftovers(t, r.BackupDir); len(left) > 0 {
			fail("rerun left %v", left)
		}
		for _, bad := range checkAllValid(t, r.BackupDir, checked, false) {
			fail("after rerun: %s", bad)
		}
		after := stampEntries(t, r.BackupDir)
		if len(after) < len(before)+1 {
			fail("rerun made no snapshot: %v -> %v", before, after)
		}
		removeSnapshotsExcept(t, r.BackupDir, after[len(after)-1])
		if t.Failed() && !longMode() {
			break
		}
	}
	c.duration = rt.killRange()
	c.log(t)
}

// knownBug fails the test on a library defect these tests once found (all
// are fixed); id names it in docs/reliability.md.
func knownBug(t *testing.T, id, format string, a ...any) {
	t.Helper()
	// Every bug these tests found is fixed; the id names the regression.
	t.Errorf("REGRESSION %s: %s", id, fmt.Sprintf(format, a...))
}
