package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

// gathered maps "name{labels}" to value.
func gathered(t *testing.T, cfg backup.Config, res *metrics.Results) map[string]float64 {
	t.Helper()
	mfs, err := metrics.NewRegistry(cfg, res).Gather()
	if err != nil {
		t.Fatal(err)
	}
	return flatten(mfs)
}

func flatten(mfs []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				if l.GetValue() == "" {
					continue // an empty label is no label, to Prometheus
				}
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func writeDrills(t *testing.T, r *sample.Root, recs ...restore.DrillRecord) {
	t.Helper()
	var b strings.Builder
	for _, rec := range recs {
		line, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(r.BackupDir, restore.DrillLogFile), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// markInvalid rewrites a snapshot's metadata as a failed validation would leave it.
func markInvalid(t *testing.T, r *sample.Root, stamp string) {
	t.Helper()
	p := filepath.Join(r.BackupDir, "snapshots", stamp, snapshot.MetadataFile)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["validated"] = false
	m["validation_errors"] = []string{"db_integrity_check_failed"}
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyBackupDirectory(t *testing.T) {
	r := testutil.Root(t)
	got := gathered(t, testutil.Config(r), nil)
	want := map[string]float64{
		metrics.NameSnapshots: 0, metrics.NameValidSnapshots: 0, metrics.NameSnapshotsBytes: 0,
		metrics.NameNewestSnapshot: 0, metrics.NameNewestValidSnapshot: 0,
		metrics.NameLastDrill: 0, metrics.NameLastDrillSuccess: 0, metrics.NameLastPassingDrill: 0,
		// No replication: its times are 0, and no lag is made up.
		metrics.NameReplicationLastTick + "{location=local}": 0, metrics.NameReplicationWindowStart + "{location=local}": 0,
		metrics.NameReplicationBytes + "{location=local}": 0,
	}
	if len(got) != len(want) {
		t.Errorf("metrics %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, err := os.Stat(r.BackupDir); err == nil {
		t.Error("reading metrics created the backup directory")
	}
}

func TestMetricsFromDisk(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	first := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	second := testutil.Create(t, r, backup.CreateOptions{})
	third := testutil.Create(t, r, backup.CreateOptions{})
	markInvalid(t, r, third.Stamp)
	stampTime := func(s string) float64 {
		tm, err := snapshot.ParseStamp(s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.Unix())
	}
	t0 := time.Date(2026, 9, 1, 3, 0, 0, 0, time.UTC)
	writeDrills(t, r,
		restore.DrillRecord{Time: t0.Format(time.RFC3339), Stamp: "20260901T030000Z", Pass: true},
		restore.DrillRecord{Time: t0.Add(24 * time.Hour).Format(time.RFC3339), Stamp: "20260902T030000Z", Pass: true},
		restore.DrillRecord{Time: t0.Add(48 * time.Hour).Format(time.RFC3339), Stamp: "20260903T030000Z", Pass: false},
	)
	// What push saved in .push-state (internal/offsite's format).
	state := filepath.Join(r.BackupDir, ".push-state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "00112233aabbccdd.json"),
		[]byte(`{"target": "sftp://h/x", "entries": [], "pushed": ["`+first.Stamp+`", "`+second.Stamp+`"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	got := gathered(t, cfg, nil)
	for k, v := range map[string]float64{
		metrics.NameNewestPushedSnapshot + "{target=sftp://h/x}": stampTime(second.Stamp),
		metrics.NameSnapshots:           3,
		metrics.NameValidSnapshots:      2,
		metrics.NameSnapshotsBytes:      float64(first.DBSizeBytes + first.ChromaBytes + second.DBSizeBytes + third.DBSizeBytes),
		metrics.NameNewestSnapshot:      stampTime(third.Stamp),
		metrics.NameNewestValidSnapshot: stampTime(second.Stamp),
		metrics.NameLastDrill:           float64(t0.Add(48 * time.Hour).Unix()),
		metrics.NameLastDrillSuccess:    0,
		metrics.NameLastPassingDrill:    float64(t0.Add(24 * time.Hour).Unix()),
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if first.ChromaBytes == 0 {
		t.Error("the fixture's Chroma copy has no bytes: the bytes check proves nothing")
	}
	for _, k := range []string{metrics.NameLastCreate, metrics.NameLastValidation, metrics.NameLastPush + "{target=x}"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s reported although nothing was recorded", k)
		}
	}
}

func TestRecordedResults(t *testing.T) {
	r := testutil.Root(t)
	res := &metrics.Results{}
	t1 := time.Date(2026, 12, 1, 2, 0, 0, 500_000_000, time.UTC)
	res.RecordCreate(t1, true)
	res.RecordValidation(t1.Add(time.Minute), false)
	res.RecordPush("sftp://backup@host/srv/atocore", t1.Add(2*time.Minute), true)
	res.RecordPush("s3://bucket/atocore", t1.Add(3*time.Minute), false)
	res.RecordPush("s3://bucket/atocore", t1.Add(4*time.Minute), true) // the last one counts
	got := gathered(t, testutil.Config(r), res)
	for k, v := range map[string]float64{
		metrics.NameLastCreate:                                                  float64(t1.UnixNano()) / 1e9,
		metrics.NameLastCreateSuccess:                                           1,
		metrics.NameLastValidation:                                              float64(t1.Add(time.Minute).Unix()) + 0.5,
		metrics.NameLastValidationSuccess:                                       0,
		metrics.NameLastPush + "{target=sftp://backup@host/srv/atocore}":        float64(t1.Add(2*time.Minute).Unix()) + 0.5,
		metrics.NameLastPushSuccess + "{target=sftp://backup@host/srv/atocore}": 1,
		metrics.NameLastPush + "{target=s3://bucket/atocore}":                   float64(t1.Add(4*time.Minute).Unix()) + 0.5,
		metrics.NameLastPushSuccess + "{target=s3://bucket/atocore}":            1,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// A drill log that does not parse fails the scrape rather than report no drill.
func TestBrokenDrillLogFailsGather(t *testing.T) {
	r := testutil.Root(t)
	if err := os.MkdirAll(r.BackupDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.BackupDir, restore.DrillLogFile), []byte("{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.NewRegistry(testutil.Config(r), nil).Gather(); err == nil || !strings.Contains(err.Error(), restore.DrillLogFile) {
		t.Fatalf("Gather over a broken drill log: %v", err)
	}
}
