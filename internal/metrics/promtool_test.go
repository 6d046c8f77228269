package metrics_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/internal/testutil"
)

type dtoFamily = dto.MetricFamily

// The textfile passes `promtool check metrics` (format and lint: names,
// units, HELP and TYPE), with every metric family present.
func TestTextfilePassesPromtool(t *testing.T) {
	promtool := testutil.Tool(t, "promtool")
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	res := &metrics.Results{}
	now := time.Now()
	res.RecordCreate(now, true)
	res.RecordValidation(now, true)
	res.RecordPush("sftp://backup@host:22/srv/atocore", now, true)
	path := filepath.Join(t.TempDir(), "atocore_backup.prom")
	if err := metrics.WriteTextfile(context.Background(), path, testutil.Config(r), res); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	CheckMetrics(t, promtool, data)
	// 14, and the replication's last tick, window start and bytes (no
	// lag without a chain).
	if n := bytes.Count(data, []byte("# TYPE ")); n != 17 {
		t.Errorf("%d families, want 17:\n%s", n, data)
	}
}

// CheckMetrics runs `promtool check metrics` on data and fails on any finding.
func CheckMetrics(t *testing.T, promtool string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- input:\n%s", err, out, data)
	}
}
