package metrics_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/internal/testutil"
)

const rulesDir = "../../docs/alerts"

// The shipped alert rules pass `promtool check rules` and their own unit
// tests (`promtool test rules`): a valid snapshot older than 26 h, a push
// that failed or is older than 26 h, no passing drill for 92 days.
func TestAlertRules(t *testing.T) {
	promtool := testutil.Tool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "atocore-backup.rules.yml"},
		{"test", "rules", "atocore-backup.rules.test.yml"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, promtool, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// Every metric the rules use is one this package emits: a renamed metric
// must not silence an alert.
func TestAlertRulesUseKnownMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(rulesDir, "atocore-backup.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, n := range []string{metrics.NameSnapshots, metrics.NameValidSnapshots, metrics.NameSnapshotsBytes,
		metrics.NameNewestSnapshot, metrics.NameNewestValidSnapshot, metrics.NameLastDrill, metrics.NameLastDrillSuccess,
		metrics.NameLastPassingDrill, metrics.NameLastCreate, metrics.NameLastCreateSuccess, metrics.NameLastValidation,
		metrics.NameLastValidationSuccess, metrics.NameLastPush, metrics.NameLastPushSuccess, metrics.NameNewestPushedSnapshot} {
		known[n] = true
	}
	used := regexp.MustCompile(`atocore_backup_[a-z_]+`).FindAllString(string(data), -1)
	if len(used) < 4 {
		t.Fatalf("the rules use only %v", used)
	}
	for _, n := range used {
		if !known[n] {
			t.Errorf("the rules use %s, which the package does not emit", n)
		}
	}
}
