package metrics_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// readBack parses the textfile as node_exporter would.
func readBack(t *testing.T, path string) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	list := make([]*dtoFamily, 0, len(mfs))
	for _, mf := range mfs {
		list = append(list, mf)
	}
	return flatten(list)
}

// A cron create and a cron push write the same file: neither erases the
// other's last result, and what comes from disk is rewritten each time.
func TestTextfileKeepsOtherCommandsResults(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "atocore_backup.prom")
	t1 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

	testutil.Create(t, r, backup.CreateOptions{})
	create := &metrics.Results{}
	create.RecordCreate(t1, true)
	if err := metrics.WriteTextfile(ctx, path, cfg, create); err != nil {
		t.Fatal(err)
	}
	push := &metrics.Results{}
	push.RecordPush("sftp://h/a", t1.Add(time.Hour), false)
	if err := metrics.WriteTextfile(ctx, path, cfg, push); err != nil {
		t.Fatal(err)
	}
	got := readBack(t, path)
	for k, v := range map[string]float64{
		metrics.NameLastCreate:                              float64(t1.Unix()),
		metrics.NameLastCreateSuccess:                       1,
		metrics.NameLastPush + "{target=sftp://h/a}":        float64(t1.Add(time.Hour).Unix()),
		metrics.NameLastPushSuccess + "{target=sftp://h/a}": 0,
		metrics.NameSnapshots:                               1,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("after create then push: %s = %v (present %v), want %v", k, g, ok, v)
		}
	}

	// A second snapshot and a failed create: the create lines are
	// replaced, the push to sftp://h/a kept, a push to another target added.
	testutil.Create(t, r, backup.CreateOptions{})
	again := &metrics.Results{}
	again.RecordCreate(t1.Add(2*time.Hour), false)
	again.RecordPush("s3://b/p", t1.Add(2*time.Hour), true)
	if err := metrics.WriteTextfile(ctx, path, cfg, again); err != nil {
		t.Fatal(err)
	}
	got = readBack(t, path)
	for k, v := range map[string]float64{
		metrics.NameLastCreate:                              float64(t1.Add(2 * time.Hour).Unix()),
		metrics.NameLastCreateSuccess:                       0,
		metrics.NameLastPush + "{target=sftp://h/a}":        float64(t1.Add(time.Hour).Unix()),
		metrics.NameLastPushSuccess + "{target=sftp://h/a}": 0,
		metrics.NameLastPushSuccess + "{target=s3://b/p}":   1,
		metrics.NameSnapshots:                               2,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("after the third run: %s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got[metrics.NameLastValidation]; ok {
		t.Error("a validation result appeared that nobody recorded")
	}
}

func TestTextfileIsAtomicAndReadable(t *testing.T) {
	r := testutil.Root(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "atocore_backup.prom")
	old := syscall.Umask(0o077) // cron's umask must not hide the file from node_exporter
	err := metrics.WriteTextfile(context.Background(), path, testutil.Config(r), nil)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %04o, want 0644", st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "atocore_backup.prom" && e.Name() != "atocore_backup.prom.lock" {
			t.Errorf("left behind %s", e.Name())
		}
		if strings.HasSuffix(e.Name(), ".prom") && e.Name() != "atocore_backup.prom" {
			t.Errorf("%s would be read by node_exporter", e.Name())
		}
	}
}

// Someone else's file at the path is refused, not clobbered; a missing
// directory is a one-line error naming it.
func TestTextfileRefusals(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	dir := t.TempDir()
	path := filepath.Join(dir, "other.prom")
	const foreign = "this is not the text format {{{\n"
	if err := os.WriteFile(path, []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	err := metrics.WriteTextfile(context.Background(), path, cfg, nil)
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("over a foreign file: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != foreign {
		t.Fatalf("the foreign file changed: %q", data)
	}
	missing := filepath.Join(dir, "no-such-dir", "x.prom")
	if err := metrics.WriteTextfile(context.Background(), missing, cfg, nil); err == nil || !strings.Contains(err.Error(), filepath.Dir(missing)) {
		t.Fatalf("in a missing directory: %v", err)
	}
}

// Concurrent writers take turns: every target's last push survives.
func TestTextfileConcurrentWriters(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	path := filepath.Join(t.TempDir(), "atocore_backup.prom")
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			res := &metrics.Results{}
			res.RecordPush("sftp://h/"+string(rune('a'+i)), time.Unix(int64(1_800_000_000+i), 0), true)
			errs <- metrics.WriteTextfile(context.Background(), path, cfg, res)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := readBack(t, path)
	for i := range writers {
		k := metrics.NameLastPushSuccess + "{target=sftp://h/" + string(rune('a'+i)) + "}"
		if got[k] != 1 {
			t.Errorf("%s lost (have %v)", k, got)
		}
	}
}
