package retention

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// SPEC restore rule 11: the snapshot a restore came from is kept for 7 days
// (reason restored-from), whatever the policy, and not after.
func TestRestoredFromIsKeptForSevenDays(t *testing.T) {
	items := dailyBackups(t, "2026-04-01", "2026-04-07")
	restored := at(t, "20260407T120000Z") // the 04-02 snapshot was restored then
	items[1].RestoredAt = restored
	for _, tc := range []struct {
		name string
		now  time.Time
		kept bool
	}{
		{"just after the restore", restored.Add(time.Minute), true},
		{"6 days 23 h later", restored.Add(7*24*time.Hour - time.Hour), true},
		{"exactly 7 days later", restored.Add(RestoredFromAge), false},
		{"8 days later", restored.AddDate(0, 0, 8), false},
		{"restore dated after now (clock skew)", restored.Add(-48 * time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Compute(items, Policy{KeepDaily: 1}, tc.now)
			var reasons []string
			for _, k := range plan.Keep {
				if k.Stamp == items[1].Stamp {
					reasons = k.Reasons
				}
			}
			if tc.kept {
				if !reflect.DeepEqual(reasons, []string{reasonRestoredFrom}) {
					t.Fatalf("%s kept for %q, want [%s]\n%s", items[1].Stamp, reasons, reasonRestoredFrom, plan.Describe())
				}
			} else if !slices.Contains(plan.Remove, items[1].Stamp) {
				t.Fatalf("%s not removed:\n%s", items[1].Stamp, plan.Describe())
			}
		})
	}
}

// restored-from comes after every other reason, and an invalid snapshot that
// was restored from (damaged since) is still reported invalid, not kept.
func TestRestoredFromOrderAndInvalid(t *testing.T) {
	now := at(t, "20260407T120000Z")
	pre := preRestore(t, "20260407T060000Z")
	pre.RestoredAt = now.Add(-time.Hour)
	bad := invalid(t, "20260406T060000Z", "scheduled")
	bad.RestoredAt = now.Add(-time.Hour)
	plan := Compute([]Item{pre, bad}, Policy{KeepDaily: 1}, now)
	want := []Keep{{Stamp: pre.Stamp, Reasons: []string{"daily 2026-04-07", reasonNewest, reasonPreRestore, reasonRestoredFrom}}}
	if !reflect.DeepEqual(plan.Keep, want) || !slices.Equal(plan.Invalid, []string{bad.Stamp}) {
		t.Fatalf("plan:\n%s", plan.Describe())
	}
}

func TestRestoredFromReasonIsTheSpecs(t *testing.T) {
	if reasonRestoredFrom != "restored-from" || RestoredFromAge != 7*24*time.Hour {
		t.Fatalf("reason %q, age %v: SPEC says restored-from, 7 days", reasonRestoredFrom, RestoredFromAge)
	}
}

// Every invalid snapshot of a plan carries its first error, in the plan and
// in Describe's text; one without an error says so.
func TestPlanCarriesInvalidErrors(t *testing.T) {
	a := invalid(t, "20260405T060000Z", "scheduled")
	a.Error = "db_missing: db/atocore.db"
	b := invalid(t, "20260406T060000Z", "")
	items := []Item{a, b, scheduled(t, "20260407T060000Z")}
	plan := Compute(items, DefaultPolicy(), at(t, "20260407T120000Z"))
	want := map[string]string{a.Stamp: a.Error, b.Stamp: "invalid (no error recorded)"}
	if !reflect.DeepEqual(plan.InvalidErrors, want) {
		t.Fatalf("InvalidErrors = %v, want %v", plan.InvalidErrors, want)
	}
	text := plan.Describe()
	for _, line := range []string{
		"invalid 20260405T060000Z  db_missing: db/atocore.db\n",
		"invalid 20260406T060000Z  invalid (no error recorded)\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("Describe() lacks %q:\n%s", line, text)
		}
	}
	// An error spanning lines stays on its line of the plan.
	a.Error = "db_integrity_check_failed: page 3\npage 4"
	if text := Compute([]Item{a}, DefaultPolicy(), at(t, "20260407T120000Z")).Describe(); strings.Count(text, "\n") != 2 {
		t.Errorf("a multi-line error breaks the plan's lines:\n%s", text)
	}
}
