package metrics_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// A push to several targets records each: the one that failed is 0 under
// its own target and target_name labels, beside the one that worked, and
// the file passes promtool. A line written before target_name existed is
// replaced by this run's line for its target, not left as a second series.
func TestTextfilePushPerTarget(t *testing.T) {
	promtool := testutil.Tool(t, "promtool")
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	path := filepath.Join(t.TempDir(), "atocore_backup.prom")
	const old = "# HELP atocore_backup_last_push_success x\n# TYPE atocore_backup_last_push_success gauge\n" +
		"atocore_backup_last_push_success{target=\"file:///mnt/usb\"} 1\n" +
		"atocore_backup_last_push_success{target=\"sftp://other@h/keep\"} 1\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 4, 5, 0, 0, time.UTC)
	res := &metrics.Results{}
	res.RecordNamedPush("offsite", "sftp://backup@host:22/srv/atocore", now, true)
	res.RecordNamedPush("usb", "file:///mnt/usb", now.Add(time.Minute), false)
	if err := metrics.WriteTextfile(context.Background(), path, testutil.Config(r), res); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	CheckMetrics(t, promtool, data)
	text := string(data)
	for _, line := range []string{
		`atocore_backup_last_push_success{target="sftp://backup@host:22/srv/atocore",target_name="offsite"} 1` + "\n",
		`atocore_backup_last_push_success{target="file:///mnt/usb",target_name="usb"} 0` + "\n",
		`atocore_backup_last_push_timestamp_seconds{target="file:///mnt/usb",target_name="usb"} ` + strconv.FormatFloat(float64(now.Add(time.Minute).Unix()), 'g', -1, 64) + "\n",
		`atocore_backup_last_push_success{target="sftp://other@h/keep"} 1` + "\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("the textfile lacks %q:\n%s", line, text)
		}
	}
	if n := strings.Count(text, `atocore_backup_last_push_success{target="file:///mnt/usb"`); n != 1 {
		t.Errorf("%d series for file:///mnt/usb, want 1:\n%s", n, text)
	}
}

// What a push saves in the backup directory, another process reports: the
// admin server's /metrics shows the cron push's failed target as failed,
// under its name, beside the one that worked; a scrape of a directory
// where no push ran shows none, and saving without a push writes nothing.
func TestSavedPushesReachOtherProcesses(t *testing.T) {
	promtool := testutil.Tool(t, "promtool")
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	cfg := testutil.Config(r)
	if err := metrics.SavePushes(cfg, &metrics.Results{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.BackupDir, metrics.PushOutcomeDir)); !os.IsNotExist(err) {
		t.Fatalf("saving no push made %s: %v", metrics.PushOutcomeDir, err)
	}
	before, err := metrics.NewRegistry(cfg, nil).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for k := range flatten(before) {
		if strings.HasPrefix(k, metrics.NameLastPush) {
			t.Errorf("%s before any push", k)
		}
	}

	now := time.Date(2026, 12, 7, 4, 5, 0, 0, time.UTC)
	cron := &metrics.Results{}
	cron.RecordNamedPush("offsite", "sftp://backup@host:22/srv/atocore", now, true)
	cron.RecordNamedPush("usb", "file:///mnt/usb", now, false)
	if err := metrics.SavePushes(cfg, cron); err != nil {
		t.Fatal(err)
	}
	// A later push to usb alone replaces its outcome, and only its.
	later := &metrics.Results{}
	later.RecordNamedPush("usb", "file:///mnt/usb", now.Add(time.Hour), false)
	if err := metrics.SavePushes(cfg, later); err != nil {
		t.Fatal(err)
	}
	server := metrics.NewRegistry(cfg, &metrics.Results{}) // a process that pushed nothing
	mfs, err := server.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := flatten(mfs)
	for k, v := range map[string]float64{
		metrics.NameLastPushSuccess + "{target=sftp://backup@host:22/srv/atocore}{target_name=offsite}": 1,
		metrics.NameLastPushSuccess + "{target=file:///mnt/usb}{target_name=usb}":                       0,
		metrics.NameLastPush + "{target=file:///mnt/usb}{target_name=usb}":                              float64(now.Add(time.Hour).Unix()),
		metrics.NameLastPush + "{target=sftp://backup@host:22/srv/atocore}{target_name=offsite}":        float64(now.Unix()),
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	path := filepath.Join(t.TempDir(), "atocore_backup.prom")
	if err := metrics.WriteTextfile(context.Background(), path, cfg, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	CheckMetrics(t, promtool, data)
	if !strings.Contains(string(data), `atocore_backup_last_push_success{target="file:///mnt/usb",target_name="usb"} 0`+"\n") {
		t.Errorf("a textfile written by another command lacks the failed push:\n%s", data)
	}
}
