package admin_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/testutil"
)

// /metrics is scraped over HTTP with the token; it reflects what the
// handler did and what is on disk, and passes `promtool check metrics`.
func TestMetricsEndpoint(t *testing.T) {
	promtool := testutil.Tool(t, "promtool")
	h, _ := newHandler(t, nil)
	base := serve(t, h)
	if code, _, raw := call(t, "GET", base+"/metrics", "", "", nil); code != 401 {
		t.Fatalf("/metrics without a token: %d %s", code, raw)
	}
	code, meta, raw := call(t, "POST", base+"/admin/backup", "application/json", `{}`, bearer)
	if code != 200 {
		t.Fatalf("POST: %d %s", code, raw)
	}
	if code, _, raw := call(t, "GET", base+"/admin/backup/"+meta["stamp"].(string)+"/validate", "", "", bearer); code != 200 {
		t.Fatalf("validate: %d %s", code, raw)
	}
	code, _, body := call(t, "GET", base+"/metrics", "", "", bearer)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, line := range []string{
		"atocore_backup_snapshots 1\n",
		"atocore_backup_valid_snapshots 1\n",
		"atocore_backup_last_create_success 1\n",
		"atocore_backup_last_validation_success 1\n",
		"# TYPE atocore_backup_newest_valid_snapshot_timestamp_seconds gauge\n",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q:\n%s", line, body)
		}
	}
	// A create that fails is recorded as failed.
	if code, _, raw := call(t, "POST", base+"/admin/backup", "application/json", `{"kind": "drill"}`, bearer); code != 400 {
		t.Fatalf("refused kind: %d %s", code, raw)
	}
	if _, _, body := call(t, "GET", base+"/metrics", "", "", bearer); !strings.Contains(body, "atocore_backup_last_create_success 1\n") {
		t.Errorf("a refused request (it ran no create) changed the create result:\n%s", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics on the scrape: %v\n%s", err, out)
	}
}

// A backup directory that cannot be read fails the scrape with a JSON
// error that names no path.
func TestMetricsEndpointBrokenDirectory(t *testing.T) {
	r := testutil.Root(t)
	h, _ := newHandlerFor(t, r)
	base := serve(t, h)
	breakSnapshotsDir(t, r)
	code, v, raw := call(t, "GET", base+"/metrics", "", "", bearer)
	if code != 500 || v["error"] == nil || strings.Contains(raw, r.Dir) {
		t.Fatalf("/metrics over a broken directory: %d %s", code, raw)
	}
}
