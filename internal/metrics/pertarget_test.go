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
