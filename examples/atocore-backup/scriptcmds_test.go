package main

// The helper commands of the transcripts (testdata/script), registered in
// TestScript: each does one thing a shell would need a tool for. They run
// in the test process; the CLI runs in a process of its own.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
)

// haveTool is the condition [have:NAME]: the external tool NAME is on
// PATH. Without it a script skips, unless ATOCORE_REQUIRE_TOOLS=1 (CI):
// then the missing tool fails the script instead of hiding it.
func haveTool(cond string) (bool, error) {
	name, ok := strings.CutPrefix(cond, "have:")
	if !ok {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
			return false, fmt.Errorf("%s is required (ATOCORE_REQUIRE_TOOLS=1) but not on PATH", name)
		}
		return false, nil
	}
	return true, nil
}

// exits CODE PROG [ARGS...] runs PROG as exec does and requires exit
// status CODE; stdout and stderr are kept for the stdout and stderr
// commands. Whatever the code, stderr carries no Go panic; with code 2 (a
// usage error or a refusal) stderr is exactly one line (SPEC: "each
// refusal or error is one line on stderr").
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
	stderr := ts.ReadFile("stderr")
	if strings.Contains(stderr, "panic:") || strings.Contains(stderr, "goroutine ") {
		ts.Fatalf("a Go panic on stderr")
	}
	if want == exitUsage && (stderr == "" || strings.Count(strings.TrimSuffix(stderr, "\n"), "\n") != 0) {
		ts.Fatalf("exit 2 must say why in exactly one line on stderr")
	}
}

// mkroot DIR generates a small sample AtoCore root in DIR (a WAL-mode
// database, the project registry, a Chroma directory; no backups yet).
func cmdMkroot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mkroot DIR")
	}
	_, err := sample.Generate(context.Background(), ts.MkAbs(args[0]), sample.Options{Seed: 7})
	ts.Check(err)
}

// corrupt FILE OFFSET flips 16 bytes of FILE from OFFSET. It damages that
// path only: the damaged copy replaces FILE, so that the snapshots that
// share FILE's bytes through a hardlink keep theirs.
func cmdCorrupt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: corrupt FILE OFFSET")
	}
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	if off < 0 || off+16 > len(data) {
		ts.Fatalf("%s has %d bytes: no 16 at %d", args[0], len(data), off)
	}
	for i := off; i < off+16; i++ {
		data[i] ^= 0xA5
	}
	fi, err := os.Stat(path)
	ts.Check(err)
	tmp := path + ".corrupt"
	ts.Check(os.WriteFile(tmp, data, fi.Mode().Perm()))
	ts.Check(os.Rename(tmp, path))
}

// jsonget VAR FILE PATH sets the environment variable VAR to the value at
// PATH (keys and list indexes joined by dots: backups.0.stamp) of the JSON
// document in FILE ("stdout" for the last command's): a string as it is,
// anything else as JSON. A PATH that is not there fails.
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonget VAR FILE PATH")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[1])), &v); err != nil {
		ts.Fatalf("%s is not one JSON document: %v", args[1], err)
	}
	for _, k := range strings.Split(args[2], ".") {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[k]
			if !ok {
				ts.Fatalf("%s has no %q at %s", args[1], k, args[2])
			}
			v = next
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(node) {
				ts.Fatalf("%s: %q is not an index of a list of %d at %s", args[1], k, len(node), args[2])
			}
			v = node[i]
		default:
			ts.Fatalf("%s: nothing under %q at %s", args[1], k, args[2])
		}
	}
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		ts.Check(err)
		s = string(b)
	}
	ts.Setenv(args[0], s)
}

// locks holds the locks holdlock took, per script, until unlock or the
// script's end.
var locks sync.Map // *testscript.TestScript -> func()

// holdlock ROOT takes the lock of ROOT's backup directory in the test
// process, as another run's create would hold it, until unlock or the end
// of the script. The CLI, another process, finds it held.
func cmdHoldlock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdlock ROOT")
	}
	l, err := backup.LockDir(context.Background(), backup.Config{Paths: backup.Paths{Root: ts.MkAbs(args[0])}}, "create", backup.Wait{})
	ts.Check(err)
	var once sync.Once
	release := func() { once.Do(l.Release) }
	locks.Store(ts, release)
	ts.Defer(release)
}

// unlock releases the lock holdlock took.
func cmdUnlock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: unlock")
	}
	release, ok := locks.LoadAndDelete(ts)
	if !ok {
		ts.Fatalf("unlock without holdlock")
	}
	release.(func())()
}

// marker DB writes the drill marker (a memory of project drill) to the
// database DB, as a change made after a snapshot.
func cmdMarker(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: marker DB")
	}
	_, err := sample.InsertMemory(context.Background(), ts.MkAbs(args[0]),
		sample.Memory{Type: "episodic", Content: "DRILL-MARKER", Project: "drill", Confidence: 1})
	ts.Check(err)
}

// markers DB N requires N drill markers in the database DB.
func cmdMarkers(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: markers DB N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	n, err := sample.CountMemories(context.Background(), ts.MkAbs(args[0]), "drill")
	ts.Check(err)
	if n != want {
		ts.Fatalf("%s holds %d drill marker(s), want %d", args[0], n, want)
	}
}

// fingerprint VAR DB sets VAR to the digest of the logical content of
// the database DB (its rows, not its bytes): two databases with the same
// fingerprint hold the same data.
func cmdFingerprint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: fingerprint VAR DB")
	}
	fp, err := sample.Fingerprint(context.Background(), ts.MkAbs(args[1]))
	ts.Check(err)
	ts.Setenv(args[0], fp)
}

// interrupt PROG [ARGS...] runs PROG and sends it SIGINT (what Ctrl-C
// sends) as soon as it has written its first line on stderr: by then its
// signal handler is installed, and a command waiting for a lock that
// holdlock holds cannot have got further. The exit status must be 130;
// stdout and stderr are kept for the stdout and stderr commands. PROG
// runs in the script's directory with only PATH, HOME and TZ of its
// environment.
func cmdInterrupt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: interrupt PROG [ARGS...]")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = []string{"PATH=" + ts.Getenv("PATH"), "HOME=" + ts.Getenv("HOME"), "TZ=" + ts.Getenv("TZ")}
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	// A command that never writes or never ends is killed: the script
	// fails on its exit status instead of hanging.
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	r := bufio.NewReader(pipe)
	first, err := r.ReadString('\n')
	stderr.WriteString(first)
	if err == nil {
		ts.Check(cmd.Process.Signal(syscall.SIGINT))
	}
	rest, _ := io.ReadAll(r)
	stderr.Write(rest)
	err = cmd.Wait()
	fmt.Fprint(ts.Stdout(), stdout.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		ts.Fatalf("%s interrupted: %v, want exit status %d\n%s", args[0], err, exitInterrupted, stderr.String())
	}
}

// sleep DURATION waits (at most 10s): a background replicate ticks meanwhile.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d < 0 || d > 10*time.Second {
		ts.Fatalf("sleep %s: want a duration up to 10s", args[0])
	}
	time.Sleep(d)
}
