package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// binary is the CLI as the scripts run it: TestMain (script_test.go) puts
// it on PATH under its own name; running it runs main.
func binary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("atocore-backup")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the binary with env added to a clean environment (no ATOCORE_*
// from the caller) in a local time zone far from UTC.
func cli(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TZ=Asia/Tokyo"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	return v
}

func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if code == 2 && (strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stderr == "") {
		t.Fatalf("a usage error must be one line on stderr, got %q", r.stderr)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("stack trace on stderr: %s", r.stderr)
	}
	return r
}

var stampRE = regexp.MustCompile(`^\d{8}T\d{6}Z$`)

func TestCreateListValidateRestorePrune(t *testing.T) {
	r := testutil.Root(t)
	root := "--root=" + r.Dir

	c := cli(t, nil, "create", root, "--include-chroma").want(t, 0)
	meta := c.json(t)
	stamp, _ := meta["stamp"].(string)
	if !stampRE.MatchString(stamp) || meta["validated"] != true || meta["include_chroma"] != true || meta["kind"] != "manual" {
		t.Fatalf("create printed %v", meta)
	}
	// The stamp is UTC although TZ says Tokyo.
	st, _ := time.Parse("20060102T150405Z", stamp)
	if d := time.Since(st); d < 0 || d > 5*time.Minute {
		t.Fatalf("stamp %s is not the current UTC time", stamp)
	}
	if !strings.HasSuffix(meta["created_at"].(string), "Z") {
		t.Fatalf("created_at %v is not UTC", meta["created_at"])
	}

	// Flags after or before the command, paths from the environment.
	l := cli(t, []string{"ATOCORE_ROOT=" + r.Dir}, "list").want(t, 0).json(t)
	if l["backup_dir"] != r.BackupDir {
		t.Fatalf("list backup_dir = %v", l["backup_dir"])
	}
	backups := l["backups"].([]any)
	if len(backups) != 1 {
		t.Fatalf("list = %v", l)
	}
	b0 := backups[0].(map[string]any)
	if b0["stamp"] != stamp || b0["path"] != filepath.Join(r.BackupDir, "snapshots", stamp) || b0["metadata"].(map[string]any)["stamp"] != stamp {
		t.Fatalf("list entry = %v", b0)
	}

	v := cli(t, nil, root, "validate", stamp).want(t, 0).json(t)
	if v["stamp"] != stamp || v["valid"] != true || len(v["errors"].([]any)) != 0 || v["warnings"] == nil {
		t.Fatalf("validate = %v", v)
	}

	if _, err := sample.InsertMemory(context.Background(), r.DBPath, sample.Memory{Type: "episodic", Content: "DRILL-MARKER", Project: "drill", Confidence: 1}); err != nil {
		t.Fatal(err)
	}
	res := cli(t, nil, "restore", stamp, "--confirm-service-stopped", root).want(t, 0).json(t)
	for _, k := range []string{"stamp", "pre_restore_snapshot", "db_restored", "registry_restored", "chroma_restored", "restored_integrity_ok"} {
		if _, ok := res[k]; !ok {
			t.Errorf("restore result lacks %q: %v", k, res)
		}
	}
	if res["db_restored"] != true || res["restored_integrity_ok"] != true || res["chroma_restored"] != true || !stampRE.MatchString(fmt.Sprint(res["pre_restore_snapshot"])) {
		t.Fatalf("restore = %v", res)
	}
	if n, _ := sample.CountMemories(context.Background(), r.DBPath, "drill"); n != 0 {
		t.Fatal("marker survived the CLI restore")
	}

	noPre := cli(t, nil, "restore", stamp, "--confirm-service-stopped", "--no-pre-snapshot", "--no-chroma", root).want(t, 0).json(t)
	if noPre["pre_restore_snapshot"] != nil || noPre["chroma_restored"] != false {
		t.Fatalf("restore --no-pre-snapshot --no-chroma = %v", noPre)
	}

	p := cli(t, nil, "prune", "--dry-run", "--keep-daily=0", "--keep-weekly=0", "--keep-monthly=0", root).want(t, 0).json(t)
	for _, k := range []string{"kept", "removed", "invalid"} {
		if _, ok := p[k].([]any); !ok {
			t.Fatalf("prune lacks the list %q: %v", k, p)
		}
	}
	if !strings.Contains(cli(t, nil, "prune", "--dry-run", root).stderr, "keep") {
		t.Fatal("prune does not explain its plan on stderr")
	}
}

// validate of an invalid snapshot fails (1); restore refuses it (2, a
// refusal that touches nothing).
func TestValidateInvalidExitsOne(t *testing.T) {
	r := testutil.Root(t)
	meta := cli(t, nil, "create", "--root", r.Dir).want(t, 0).json(t)
	stamp := meta["stamp"].(string)
	testutil.Corrupt(t, filepath.Join(r.BackupDir, "snapshots", stamp, "db", "atocore.db"), 4096, 16)
	v := cli(t, nil, "validate", stamp, "--root", r.Dir).want(t, 1).json(t)
	if v["valid"] != false || !strings.HasPrefix(v["errors"].([]any)[0].(string), "db_integrity_check_failed") {
		t.Fatalf("validate = %v", v)
	}
	missing := cli(t, nil, "validate", "20200101T000000Z", "--root", r.Dir).want(t, 10).json(t) // not found
	if !strings.HasPrefix(missing["errors"].([]any)[0].(string), "snapshot_missing") {
		t.Fatalf("validate of an unknown stamp = %v", missing)
	}
	// Restore refuses the invalid snapshot: exit 1, nothing touched.
	before, _ := os.ReadFile(r.DBPath)
	rr := cli(t, nil, "restore", stamp, "--confirm-service-stopped", "--root", r.Dir).want(t, 2)
	if !strings.Contains(rr.stderr, "manifest_mismatch") {
		t.Fatalf("restore refusal does not say why: %s", rr.stderr)
	}
	after, _ := os.ReadFile(r.DBPath)
	if !bytes.Equal(before, after) {
		t.Fatal("a refused restore changed the live database")
	}
}

func TestUsageErrorsExitTwoAndTouchNothing(t *testing.T) {
	r := testutil.Root(t)
	meta := cli(t, nil, "create", "--root", r.Dir).want(t, 0).json(t)
	stamp := meta["stamp"].(string)
	before, _ := os.ReadFile(r.DBPath)
	cases := [][]string{
		{},
		{"frobnicate", "--root", r.Dir},
		{"validate", "../x", "--root", r.Dir},
		{"validate", stamp + "/..", "--root", r.Dir},
		{"validate", "", "--root", r.Dir},
		{"validate", "--root", r.Dir},
		{"restore", "../../etc", "--confirm-service-stopped", "--root", r.Dir},
		{"restore", stamp, "--root", r.Dir},
		{"restore", stamp, "--confirm-service-stopped", "--chroma", "--no-chroma", "--root", r.Dir},
		{"prune", "--keep-daily", "-1", "--root", r.Dir},
		{"prune", "--keep-weekly=x", "--root", r.Dir},
		{"prune", "--tz", "Mars/Olympus", "--root", r.Dir},
		{"create", "--kind", "hourly", "--root", r.Dir},
		{"create", "--dry-run", "--root", r.Dir},
		{"create", "--quick", "--root", r.Dir}, // a prune flag without --prune
		{"list", "extra", "--root", r.Dir},
		{"list"}, // no root, no environment
		{"create", "--no-such-flag", "--root", r.Dir},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := cli(t, nil, args...).want(t, 2)
			if res.stdout != "" {
				t.Fatalf("a usage error printed on stdout: %s", res.stdout)
			}
		})
	}
	after, _ := os.ReadFile(r.DBPath)
	if !bytes.Equal(before, after) {
		t.Fatal("a usage error changed the live database")
	}
	l := cli(t, nil, "list", "--root", r.Dir).want(t, 0).json(t)
	if len(l["backups"].([]any)) != 1 {
		t.Fatalf("usage errors created or removed snapshots: %v", l)
	}
}

func TestEnvironmentAndFlagPrecedence(t *testing.T) {
	r := testutil.Root(t)
	other := t.TempDir()
	// The root exists (a missing one is exit 10) and holds nothing: every
	// path comes from the environment or the flag.
	env := []string{"ATOCORE_ROOT=" + t.TempDir(), "ATOCORE_DB_PATH=" + r.DBPath, "ATOCORE_REGISTRY_PATH=" + r.RegistryPath,
		"ATOCORE_CHROMA_PATH=" + r.ChromaPath, "ATOCORE_BACKUP_DIR=/nonexistent/backups"}
	meta := cli(t, env, "create", "--backup-dir", other).want(t, 0).json(t)
	if !strings.HasPrefix(meta["backup_root"].(string), other) {
		t.Fatalf("--backup-dir did not win over the environment: %v", meta["backup_root"])
	}
}

func TestBusyCreateExitsEleven(t *testing.T) {
	r := testutil.Root(t)
	l, err := lockFor(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l()
	res := cli(t, nil, "create", "--root", r.Dir).want(t, 11)
	if !strings.Contains(res.stderr, "busy") || !strings.Contains(res.stderr, "--wait") {
		t.Fatalf("busy error = %q", res.stderr)
	}
}

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	res := cli(t, nil, "demo", "--dir", dir).want(t, 0)
	rep := res.json(t)
	if rep["pass"] != true || rep["marker_gone"] != true || rep["baseline_intact"] != true || rep["pre_restore_has_marker"] != true {
		t.Fatalf("demo report = %v", rep)
	}
	if !strings.Contains(res.stderr, "PASS") {
		t.Fatalf("demo summary = %s", res.stderr)
	}
	// Everything stayed inside --dir, and a second run replaces the first.
	cli(t, nil, "demo", "--dir", dir).want(t, 0)
	// A directory demo did not make is refused, untouched.
	foreign := t.TempDir()
	_ = os.WriteFile(filepath.Join(foreign, "precious.txt"), []byte("mine"), 0o600)
	cli(t, nil, "demo", "--dir", foreign).want(t, 2)
	if data, _ := os.ReadFile(filepath.Join(foreign, "precious.txt")); string(data) != "mine" {
		t.Fatal("demo touched a foreign directory")
	}
}

// --help and COMMAND --help print that command's own help on stdout and
// exit 0; --version prints the version (SPEC).
func TestHelp(t *testing.T) {
	res := cli(t, nil, "--help").want(t, 0)
	if !strings.Contains(res.stdout, "restore") || !strings.Contains(res.stdout, "remote") || res.stderr != "" {
		t.Fatalf("help: stdout %q, stderr %s", res.stdout, res.stderr)
	}
	for cmd, flag := range map[string]string{
		"create": "--include-chroma", "restore": "--wait", "prune": "--prune-invalid", "push": "--verify",
		"pull": "--allowed-signers", "drill": "--confirm-service-stopped", "demo": "--dir",
	} {
		res := cli(t, nil, cmd, "--help").want(t, 0)
		if !strings.Contains(res.stdout, flag) || !strings.Contains(res.stdout, "atocore-backup "+cmd) || res.stderr != "" {
			t.Errorf("%s --help does not describe %s on stdout: %q (stderr %q)", cmd, flag, res.stdout, res.stderr)
		}
	}
	if res := cli(t, nil, "remote", "prune", "--help").want(t, 0); !strings.Contains(res.stdout, "--prune-invalid") {
		t.Errorf("remote prune --help: %s", res.stdout)
	}
	if res := cli(t, nil, "help", "validate").want(t, 0); !strings.Contains(res.stdout, "latest") {
		t.Errorf("help validate: %s", res.stdout)
	}
	if res := cli(t, nil, "--version").want(t, 0); !strings.HasPrefix(res.stdout, "atocore-backup 0.") || !strings.Contains(res.stdout, "revision") {
		t.Errorf("--version: %q", res.stdout)
	}
}

// A mistyped command is one line that suggests the command meant.
func TestDidYouMean(t *testing.T) {
	res := cli(t, nil, "craete").want(t, 2)
	if !strings.Contains(res.stderr, "did you mean create?") {
		t.Fatalf("stderr: %q", res.stderr)
	}
	res = cli(t, nil, "validate", "--rooot", "x").want(t, 2)
	if !strings.Contains(res.stderr, "--rooot") || !strings.Contains(res.stderr, "validate --help") {
		t.Fatalf("stderr: %q", res.stderr)
	}
}

// Shell completion for bash, zsh and fish, and man pages, come from the
// same command definitions.
func TestCompletionAndManPages(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		res := cli(t, nil, "completion", sh).want(t, 0)
		if !strings.Contains(res.stdout, "atocore-backup") || len(res.stdout) < 500 {
			t.Errorf("completion %s: %.200q", sh, res.stdout)
		}
	}
	dir := t.TempDir()
	cli(t, nil, "man", dir).want(t, 0)
	for _, page := range []string{"atocore-backup.1", "atocore-backup-create.1", "atocore-backup-remote-validate.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), ".TH") {
			t.Errorf("man page %s: %v", page, err)
		}
	}
}

func TestDrillPassesAndIsLogged(t *testing.T) {
	r := testutil.Root(t)
	cli(t, nil, "drill", "--root", r.Dir).want(t, 2) // needs confirmation
	rec := cli(t, nil, "drill", "--confirm-service-stopped", "--root", r.Dir).want(t, 0).json(t)
	if rec["pass"] != true || !stampRE.MatchString(fmt.Sprint(rec["stamp"])) || !stampRE.MatchString(fmt.Sprint(rec["pre_restore_snapshot"])) {
		t.Fatalf("drill = %v", rec)
	}
	log := cli(t, nil, "drills", "--root", r.Dir).want(t, 0).json(t)
	drills := log["drills"].([]any)
	if len(drills) != 1 {
		t.Fatalf("drills = %v", log)
	}
	d := drills[0].(map[string]any)
	for _, k := range []string{"time", "stamp", "pre_restore_snapshot", "pass", "detail"} {
		if _, ok := d[k]; !ok {
			t.Errorf("drill log line lacks %q", k)
		}
	}
	if n, _ := sample.CountMemories(context.Background(), r.DBPath, "drill"); n != 0 {
		t.Fatal("the drill left its marker in the live database")
	}
}

// A sabotaged restore fails the drill: exit 1 and a log line with pass false.
func TestDrillFailsWhenRestoreIsSabotaged(t *testing.T) {
	r := testutil.Root(t)
	drillHook = func(stamp string) error {
		// Damage the snapshot the drill is about to restore: restore refuses it.
		testutil.Corrupt(t, filepath.Join(r.BackupDir, "snapshots", stamp, "db", "atocore.db"), 4096, 16)
		return nil
	}
	defer func() { drillHook = nil }()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"drill", "--confirm-service-stopped", "--root", r.Dir}, func(string) string { return "" }, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	log := cli(t, nil, "drills", "--root", r.Dir).want(t, 0).json(t)
	d := log["drills"].([]any)[0].(map[string]any)
	if d["pass"] != false || !strings.Contains(fmt.Sprint(d["detail"]), "manifest_mismatch") {
		t.Fatalf("log line = %v", d)
	}
}

// create --prune prunes after a successful create, never after a failed one.
func TestCreatePrune(t *testing.T) {
	r := testutil.Root(t)
	for range 2 {
		cli(t, nil, "create", "--root", r.Dir).want(t, 0)
		time.Sleep(1100 * time.Millisecond)
	}
	// A broken registry makes the next create fail validation: nothing is pruned.
	good, _ := os.ReadFile(r.RegistryPath)
	_ = os.WriteFile(r.RegistryPath, []byte("{"), 0o600)
	cli(t, nil, "create", "--prune", "--keep-daily=0", "--keep-weekly=0", "--keep-monthly=0", "--root", r.Dir).want(t, 1)
	if n := len(cli(t, nil, "list", "--root", r.Dir).want(t, 0).json(t)["backups"].([]any)); n != 2 {
		t.Fatalf("a failed create pruned: %d snapshots left", n)
	}
	_ = os.WriteFile(r.RegistryPath, good, 0o600)
	res := cli(t, nil, "create", "--prune", "--keep-daily=0", "--keep-weekly=0", "--keep-monthly=0", "--root", r.Dir).want(t, 0)
	if !strings.Contains(res.stderr, "newest") {
		t.Fatalf("create --prune did not print the plan: %s", res.stderr)
	}
	if n := len(cli(t, nil, "list", "--root", r.Dir).want(t, 0).json(t)["backups"].([]any)); n != 1 {
		t.Fatalf("create --prune with all flags 0 left %d snapshots", n)
	}
}
