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
	dir := t.TempDir()
	if code, _, stderr := sync(t, "--target", "file://"+dir, "--root", dir, "--allow-unsigned", "--delta-chain", "-1"); code != 2 || !strings.Contains(stderr, "--delta-chain -1") {
		t.Errorf("--delta-chain -1: exit %d, %q", code, stderr)
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

// Several targets, from --config: each is synced with its own keys (the
// passphrase of one), one that fails (its parent directory missing) does
// not stop the other; the report names each, stderr names the failed one
// in a line of its own, the exit code is 1, and the metrics file records
// each target under its name. Repeated --target picks among them.
func TestOffsiteSyncSeveralTargets(t *testing.T) {
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	dir := t.TempDir()
	pass := filepath.Join(dir, "usb.pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"usb", "plain"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	prom := filepath.Join(dir, "atocore_backup.prom")
	conf := filepath.Join(dir, "config.toml")
	text := "root = \"" + r.Dir + "\"\nmetrics_file = \"" + prom + "\"\n" +
		"[[target]]\nname = \"usb\"\nurl = \"file://" + dir + "/usb\"\npassphrase_file = \"" + pass + "\"\n" +
		"[[target]]\nname = \"gone\"\nurl = \"file://" + dir + "/nowhere/atocore\"\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, rep, stderr := sync(t, "--config", conf, "--allow-unsigned")
	if code != 1 || rep["ok"] != false {
		t.Fatalf("exit %d, ok %v, want 1 and false: %s\n%v", code, rep["ok"], stderr, rep)
	}
	targets := rep["targets"].([]any)
	if len(targets) != 2 {
		t.Fatalf("%d targets reported: %v", len(targets), rep)
	}
	usb, gone := targets[0].(map[string]any), targets[1].(map[string]any)
	if usb["name"] != "usb" || usb["ok"] != true || usb["newest_remote"] == "" || usb["error"] != nil {
		t.Errorf("usb: %v", usb)
	}
	if pushed := usb["push"].(map[string]any)["pushed"].([]any); len(pushed) != 1 || pushed[0].(map[string]any)["encrypted"] != true {
		t.Errorf("usb was not pushed encrypted with its passphrase: %v", usb["push"])
	}
	if gone["name"] != "gone" || gone["ok"] != false || gone["target"] != "file://"+dir+"/nowhere/atocore" || !strings.Contains(gone["error"].(string), "nowhere") {
		t.Errorf("gone: %v", gone)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "usb", "snapshots", "*", "db", "atocore.db.age")); len(m) != 1 {
		t.Errorf("usb holds %v", m)
	}
	var failedLines int
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "offsite-sync: target ") {
			failedLines++
			if !strings.HasPrefix(l, "offsite-sync: target gone (file://"+dir+"/nowhere/atocore): ") {
				t.Errorf("failure line %q names the wrong target", l)
			}
		}
	}
	if failedLines != 1 || !strings.Contains(stderr, "offsite-sync: usb (file://"+dir+"/usb): pushed 1,") {
		t.Errorf("stderr:\n%s", stderr)
	}
	data, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`atocore_backup_last_push_success{target="file://` + dir + `/usb",target_name="usb"} 1` + "\n",
		`atocore_backup_last_push_success{target="file://` + dir + `/nowhere/atocore",target_name="gone"} 0` + "\n",
	} {
		if !strings.Contains(string(data), line) {
			t.Errorf("the textfile lacks %q:\n%s", line, data)
		}
	}

	// --target repeated: a name of the file and a URL, those only; both
	// work, exit 0.
	code, rep, stderr = sync(t, "--config", conf, "--allow-unsigned", "--target", "usb", "--target", "file://"+dir+"/plain")
	if code != 0 || rep["ok"] != true || len(rep["targets"].([]any)) != 2 {
		t.Fatalf("two good targets: exit %d: %s\n%v", code, stderr, rep)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "plain", "snapshots", "*", "db", "atocore.db")); len(m) != 1 {
		t.Errorf("plain holds %v", m)
	}
	// A bad setting of any target refuses the run before any is touched.
	code, _, stderr = sync(t, "--allow-unsigned", "--root", r.Dir, "--target", "file://"+dir+"/plain", "--target", "file://"+dir+"/fresh", "--passphrase-file", filepath.Join(dir, "none.pass"))
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "none.pass") {
		t.Fatalf("bad passphrase file: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "fresh")); err == nil {
		t.Error("a refused run created a target")
	}
}

// An object lock is checked before any target is touched: a bad value is
// exit 2; a target that cannot lock fails (exit 1), and nothing is sent.
func TestOffsiteSyncObjectLock(t *testing.T) {
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	dir := filepath.Join(t.TempDir(), "offsite")
	base := []string{"--root", r.Dir, "--target", "file://" + dir, "--allow-unsigned"}
	for _, extra := range [][]string{{"--object-lock-days", "-1"}, {"--object-lock-days", "3", "--object-lock-mode", "legal-hold"}} {
		code, _, stderr := sync(t, append(base, extra...)...)
		if code != 2 || !strings.Contains(stderr, "object-lock") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q", extra, code, stderr)
		}
	}
	code, _, stderr := sync(t, append(base, "--object-lock-days", "3")...)
	if code != 1 || !strings.Contains(stderr, "cannot lock objects") {
		t.Fatalf("a lock on a directory target: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshots")); !os.IsNotExist(err) {
		t.Fatalf("the refused sync sent snapshots: %v", err)
	}
}
