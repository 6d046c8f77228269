package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// Settings come from flags, else the environment, else the config file,
// else the defaults; config check says which, and the commands use them.
func TestConfigFile(t *testing.T) {
	r := testutil.Root(t)
	dir := t.TempDir()
	usb := dir + "/usb"
	if err := os.Mkdir(usb, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := dir + "/config.toml"
	text := "root = \"" + r.Dir + "\"\nbackup_dir = \"" + dir + "/backups\"\n[policy]\nkeep_daily = 3\n" +
		"[[target]]\nname = \"usb\"\nurl = \"file://" + usb + "\"\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ATOCORE_BACKUP_CONFIG=" + conf}
	meta := cli(t, env, "create").want(t, 0).json(t)
	if !strings.HasPrefix(meta["backup_root"].(string), dir+"/backups/") {
		t.Fatalf("create did not use the config file's backup_dir: %v", meta["backup_root"])
	}
	chk := cli(t, env, "config", "check", "--keep-weekly", "9").want(t, 0).json(t)
	want := map[string][2]string{
		"root":               {r.Dir, "the config file " + conf + " (root)"},
		"db_path":            {r.DBPath, "the default under the AtoCore root"},
		"policy.keep_daily":  {"3", "the config file " + conf + " (policy.keep_daily)"},
		"policy.keep_weekly": {"9", "--keep-weekly"},
		"target":             {"file://" + usb, "the config file " + conf + " (its only target, usb)"},
	}
	for _, s := range chk["settings"].([]any) {
		m := s.(map[string]any)
		if w, ok := want[m["name"].(string)]; ok {
			if m["value"] != w[0] || m["source"] != w[1] {
				t.Errorf("%s = %v from %v, want %s from %s", m["name"], m["value"], m["source"], w[0], w[1])
			}
			delete(want, m["name"].(string))
		}
	}
	if len(want) > 0 {
		t.Errorf("config check did not report %v", want)
	}
	// The environment wins over the file; a flag over the environment.
	env2 := append(env, "ATOCORE_BACKUP_DIR="+dir+"/other")
	cli(t, env2, "list").want(t, 10) // the environment's directory does not exist
	cli(t, env2, "list", "--backup-dir", dir+"/backups").want(t, 0)
	// push goes to the file's only target.
	cli(t, env, "push", "--allow-unsigned").want(t, 0)
	if l := cli(t, env, "remote", "list", "--allow-unsigned").want(t, 0).json(t); len(l["backups"].([]any)) != 1 {
		t.Fatalf("remote list of the config's target = %v", l)
	}
	// A file that cannot be used stops every command, in one line; a named
	// file that does not exist is not found.
	if err := os.WriteFile(conf, []byte("rooot = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := cli(t, env, "list").want(t, 2)
	if !strings.Contains(res.stderr, "unknown key rooot") || !strings.Contains(res.stderr, conf) {
		t.Fatalf("bad config: %s", res.stderr)
	}
	cli(t, nil, "config", "check", "--config", dir+"/none.toml").want(t, 10)
}

// Every off-site flag has an environment variable.
func TestOffsiteFlagsFromTheEnvironment(t *testing.T) {
	r := testutil.Root(t)
	cli(t, nil, "create", "--root", r.Dir).want(t, 0)
	dir := t.TempDir()
	pass := dir + "/pass"
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir+"/t", 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"ATOCORE_ROOT=" + r.Dir, "ATOCORE_BACKUP_TARGET=file://" + dir + "/t", "ATOCORE_PASSPHRASE_FILE=" + pass, "ATOCORE_ALLOW_UNSIGNED=1"}
	p := cli(t, env, "push").want(t, 0).json(t)
	if pushed := p["pushed"].([]any); len(pushed) != 1 || pushed[0].(map[string]any)["encrypted"] != true {
		t.Fatalf("push with ATOCORE_PASSPHRASE_FILE = %v", p)
	}
	fresh := t.TempDir()
	got := cli(t, append(env, "ATOCORE_ROOT="+fresh), "pull", "latest").want(t, 0).json(t)
	if got["valid"] != true {
		t.Fatalf("pull latest with the passphrase from the environment = %v", got)
	}
	cli(t, append(env, "ATOCORE_SSH_AGENT=maybe"), "push").want(t, 2)
}

// --metrics-file (or the config's metrics_file) writes a node_exporter
// textfile after the command: a create's and a push's results are both
// kept, a failed create records 0.
func TestMetricsFile(t *testing.T) {
	r := testutil.Root(t)
	dir := t.TempDir()
	prom := dir + "/atocore_backup.prom"
	if err := os.Mkdir(dir+"/t", 0o700); err != nil {
		t.Fatal(err)
	}
	cli(t, nil, "create", "--root", r.Dir, "--metrics-file", prom).want(t, 0)
	cli(t, []string{"ATOCORE_METRICS_FILE=" + prom}, "push", "--root", r.Dir, "--target", "file://"+dir+"/t", "--allow-unsigned").want(t, 0)
	data, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"atocore_backup_last_create_success 1\n", `atocore_backup_last_push_success{target="file://` + dir + `/t"} 1`, "atocore_backup_snapshots 1\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, data)
		}
	}
	if err := os.Chmod(r.DBPath, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(r.DBPath, 0o600)
	if os.Geteuid() == 0 {
		// root reads a file of mode 0: remove the database instead.
		if err := os.Rename(r.DBPath, r.DBPath+".away"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(r.DBPath+".away", r.DBPath)
	}
	cli(t, nil, "create", "--root", r.Dir, "--metrics-file", prom)
	data, _ = os.ReadFile(prom)
	if !strings.Contains(string(data), "atocore_backup_last_create_success 0\n") || !strings.Contains(string(data), "atocore_backup_last_push_success") {
		t.Errorf("after a failed create:\n%s", data)
	}
	res := cli(t, nil, "list", "--root", r.Dir, "--metrics-file", dir+"/no/such/dir/x.prom")
	if res.code != 1 || !strings.Contains(res.stderr, "metrics file") {
		t.Errorf("unwritable metrics file: exit %d, %s", res.code, res.stderr)
	}
}

// A push to the config file's two targets, one of them missing: the
// metrics file and the admin server's /metrics (another process, reading
// the backup directory) both show each target's last push under its
// name, the failed one as 0.
func TestPushSeveralMetrics(t *testing.T) {
	r := testutil.Root(t)
	cli(t, nil, "create", "--root", r.Dir).want(t, 0)
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/good", 0o700); err != nil {
		t.Fatal(err)
	}
	prom := dir + "/atocore_backup.prom"
	conf := dir + "/config.toml"
	text := "root = \"" + r.Dir + "\"\nmetrics_file = \"" + prom + "\"\n" +
		"[[target]]\nname = \"good\"\nurl = \"file://" + dir + "/good\"\n" +
		"[[target]]\nname = \"bad\"\nurl = \"file://" + dir + "/nowhere/atocore\"\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := cli(t, []string{"ATOCORE_BACKUP_CONFIG=" + conf}, "push", "--allow-unsigned").want(t, 10).json(t)
	if len(rep["targets"].([]any)) != 2 {
		t.Fatalf("push reported %v", rep)
	}
	good := `{target="file://` + dir + `/good",target_name="good"}`
	bad := `{target="file://` + dir + `/nowhere/atocore",target_name="bad"}`
	data, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"atocore_backup_last_push_success" + good + " 1\n", "atocore_backup_last_push_success" + bad + " 0\n",
		"atocore_backup_last_push_timestamp_seconds" + bad + " "} {
		if !strings.Contains(string(data), line) {
			t.Errorf("the metrics file lacks %q:\n%s", line, data)
		}
	}
	var page bytes.Buffer
	mfs, err := metrics.NewRegistry(testutil.Config(r), nil).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&page, mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range []string{"atocore_backup_last_push_success" + good + " 1\n", "atocore_backup_last_push_success" + bad + " 0\n"} {
		if !strings.Contains(page.String(), line) {
			t.Errorf("another process's /metrics lacks %q:\n%s", line, page.String())
		}
	}
}
