package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

func sync(t *testing.T, args ...string) (int, map[string]any, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	var rep map[string]any
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
		}
	}
	return code, rep, errb.String()
}

// The cron job against a real sshd: push (encrypted), prune, validate the
// newest; then a damaged remote copy makes it fail with one line.
func TestOffsiteSyncOverSSH(t *testing.T) {
	s := sshdtest.Start(t)
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	_, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--root", r.Dir, "--target", s.URL(filepath.Join(s.Dir, "offsite")), "--known-hosts", s.KnownHostsFile, "--ssh-key", s.KeyFile, "--recipient", rcpt}
	code, rep, stderr := sync(t, args...)
	if code != 0 || rep["ok"] != true {
		t.Fatalf("exit %d: %s\n%v", code, stderr, rep)
	}
	newest := rep["newest_remote"].(string)
	if pushed := rep["push"].(map[string]any)["pushed"].([]any); len(pushed) != 1 || pushed[0].(map[string]any)["signed"] != true {
		t.Fatalf("the push did not sign with the Ed25519 SSH key: %v", rep["push"])
	}
	// Damage the remote copy: the next run must fail, with one line.
	matches, _ := filepath.Glob(filepath.Join(s.Dir, "offsite", "snapshots", newest, "db", "*.age"))
	if len(matches) != 1 {
		t.Fatalf("remote db copy: %v", matches)
	}
	testutil.Corrupt(t, matches[0], 300, 1)
	code, _, stderr = sync(t, args...)
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "manifest_mismatch") {
		t.Fatalf("damaged remote: exit %d, stderr %q", code, stderr)
	}
}

func TestOffsiteSyncUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--target", "file:///x", "--keep-daily", "-2"}, {"--target", "file:///x", "--bogus"}, {"--target", "file:///x"}} {
		if code, _, stderr := sync(t, args...); code != 2 || stderr == "" {
			t.Errorf("%q: exit %d, %q", args, code, stderr)
		}
	}
}

// --help is offsite-sync's own help on stdout, exit 0; --version too.
func TestOffsiteSyncHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"--version"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
		if code != 0 || !strings.Contains(out.String(), "offsite-sync") || errb.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
	}
}

// --metrics-file records the sync's outcome per target in a node_exporter
// textfile, keeping what other commands wrote there.
func TestOffsiteSyncMetricsFile(t *testing.T) {
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	dir := t.TempDir()
	prom := filepath.Join(dir, "atocore_backup.prom")
	// A cron create wrote its result first.
	if err := os.WriteFile(prom, []byte("# HELP atocore_backup_last_create_success x\n# TYPE atocore_backup_last_create_success gauge\natocore_backup_last_create_success 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := "file://" + filepath.Join(dir, "offsite")
	code, rep, stderr := sync(t, "--root", r.Dir, "--target", good, "--allow-unsigned", "--metrics-file", prom)
	if code != 0 || rep["ok"] != true {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	label := `{target="` + rep["target"].(string) + `"}`
	data, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"atocore_backup_last_push_success" + label + " 1\n",
		"atocore_backup_newest_pushed_snapshot_timestamp_seconds" + label + " ",
		"atocore_backup_last_create_success 1\n",
		"atocore_backup_snapshots 1\n",
	} {
		if !strings.Contains(string(data), line) {
			t.Errorf("the textfile lacks %q:\n%s", line, data)
		}
	}
	// A target that cannot be opened: the push is recorded as failed.
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := "file://" + filepath.Join(blocker, "offsite")
	if code, _, stderr := sync(t, "--root", r.Dir, "--target", bad, "--allow-unsigned", "--metrics-file", prom); code != 1 {
		t.Fatalf("unopenable target: exit %d: %s", code, stderr)
	}
	data, _ = os.ReadFile(prom)
	if !strings.Contains(string(data), `atocore_backup_last_push_success{target="`+bad+`"} 0`) ||
		!strings.Contains(string(data), "atocore_backup_last_push_success"+label+" 1\n") {
		t.Errorf("after a failed sync:\n%s", data)
	}
}
