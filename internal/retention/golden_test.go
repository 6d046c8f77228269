package retention

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// One year of daily backups under the default policy. Checked by eye: the
// dailies are 25..31 December; the four weeks start Sundays 6, 13, 20 and 27
// December (27 is also a daily); the six months are July..December, kept by
// the backup of the 1st. 16 kept, 349 removed.
func TestGoldenYear(t *testing.T) {
	items := dailyBackups(t, "2026-01-01", "2026-12-31")
	plan := Compute(items, DefaultPolicy(), at(t, "20261231T120000Z"))

	wantKept := []string{
		"20260701T060000Z", "20260801T060000Z", "20260901T060000Z", "20261001T060000Z",
		"20261101T060000Z", "20261201T060000Z", "20261206T060000Z", "20261213T060000Z",
		"20261220T060000Z", "20261225T060000Z", "20261226T060000Z", "20261227T060000Z",
		"20261228T060000Z", "20261229T060000Z", "20261230T060000Z", "20261231T060000Z",
	}
	if got := plan.Kept(); !reflect.DeepEqual(got, wantKept) {
		t.Errorf("Kept() = %v, want %v", got, wantKept)
	}
	if len(plan.Remove) != 365-16 {
		t.Errorf("removing %d, want %d", len(plan.Remove), 365-16)
	}

	got := plan.Describe()
	path := filepath.Join("testdata", "year.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("Describe() differs from %s (run go test -update and review the diff):\n%s", path, got)
	}
}
