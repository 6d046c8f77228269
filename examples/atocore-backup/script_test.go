package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the CLI a command of the scripts: testscript copies this
// test binary into a directory on PATH under the name atocore-backup, and
// running it under that name runs main, the very entry point of the real
// binary (exit codes included).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"atocore-backup": main,
	})
}

// binary is the CLI on PATH, for the Go tests that need it as a process of
// its own (on a pseudo-terminal, in another PID namespace).
func binary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("atocore-backup")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScript runs the transcripts of testdata/script: the CLI contract of
// SPEC.md, one file per command or exit code, with its stdout and stderr
// lines. In them, "exec atocore-backup ..." must exit 0 and "exits N
// atocore-backup ..." must exit N; [have:TOOL] guards the lines that need
// an external tool; the other helper commands are in scriptcmds_test.go.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			// A home of its own, and a local time zone far from UTC: stamps
			// and created_at must be UTC whatever TZ says.
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("TZ", "Asia/Tokyo")
			return os.MkdirAll(filepath.Join(e.WorkDir, "home"), 0o700)
		},
		Condition: haveTool,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":       cmdExits,
			"mkroot":      cmdMkroot,
			"corrupt":     cmdCorrupt,
			"jsonget":     cmdJSONGet,
			"holdlock":    cmdHoldlock,
			"unlock":      cmdUnlock,
			"marker":      cmdMarker,
			"markers":     cmdMarkers,
			"fingerprint": cmdFingerprint,
			"interrupt":   cmdInterrupt,
		},
	})
}
