package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/atocore/atocore-backup/target/s3test"
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
	testscript.Run(t, scriptParams("testdata/script", nil))
}

// TestScriptS3 runs the transcripts of testdata/script-s3 against a real
// S3 server, versitygw on loopback (skipped without it, failed when
// ATOCORE_REQUIRE_TOOLS=1): S3_ENDPOINT, S3_BUCKET and S3_LOCKED_BUCKET
// (made with Object Lock) name it, and the AWS_* variables hold its
// credentials and nothing of this machine's AWS configuration.
func TestScriptS3(t *testing.T) {
	srv := s3test.Start(t)
	testscript.Run(t, scriptParams("testdata/script-s3", func(e *testscript.Env) error {
		empty := filepath.Join(e.WorkDir, "aws-empty")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			return err
		}
		for k, v := range map[string]string{
			"S3_ENDPOINT": srv.Endpoint, "S3_BUCKET": srv.Bucket, "S3_LOCKED_BUCKET": srv.LockedBucket,
			"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
			"AWS_REGION": s3test.Region, "AWS_DEFAULT_REGION": s3test.Region,
			"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_EC2_METADATA_DISABLED": "true",
		} {
			e.Setenv(k, v)
		}
		return nil
	}))
}

// scriptParams are the transcripts of dir, with setup run after the
// common one.
func scriptParams(dir string, setup func(*testscript.Env) error) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			// A home of its own, and a local time zone far from UTC: stamps
			// and created_at must be UTC whatever TZ says.
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("TZ", "Asia/Tokyo")
			if err := os.MkdirAll(filepath.Join(e.WorkDir, "home"), 0o700); err != nil {
				return err
			}
			if setup != nil {
				return setup(e)
			}
			return nil
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
			"sleep":       cmdSleep,
		},
	}
}
