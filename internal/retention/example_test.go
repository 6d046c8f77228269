package retention_test

import (
	"fmt"
	"time"

	"github.com/atocore/atocore-backup/internal/retention"
)

func ExampleCompute() {
	snapshot := func(stamp, kind string, valid bool) retention.Item {
		t, _ := time.Parse("20060102T150405Z", stamp)
		return retention.Item{Stamp: stamp, Time: t, Kind: kind, Valid: valid}
	}
	failed := snapshot("20260406T120000Z", "manual", false)
	failed.Error = "db_missing: db/atocore.db" // its first validation error
	restoredFrom := snapshot("20260404T060000Z", "scheduled", true)
	restoredFrom.RestoredAt = time.Date(2026, 4, 6, 15, 0, 0, 0, time.UTC)
	items := []retention.Item{
		restoredFrom,
		snapshot("20260405T060000Z", "scheduled", true),
		snapshot("20260406T060000Z", "scheduled", true),
		failed,
		snapshot("20260406T150000Z", "pre-restore", true),
		snapshot("20260407T060000Z", "scheduled", true),
	}
	policy := retention.Policy{KeepDaily: 2, KeepWeekly: 1}
	now := time.Date(2026, 4, 7, 12, 0, 0, 0, time.UTC)

	plan := retention.Compute(items, policy, now)
	fmt.Print(plan.Describe())
	fmt.Println(plan.Remove)
	// Output:
	// keep   20260404T060000Z  restored-from
	// keep   20260405T060000Z  weekly 2026-04-05
	// remove 20260406T060000Z
	// invalid 20260406T120000Z  db_missing: db/atocore.db
	// keep   20260406T150000Z  daily 2026-04-06, pre-restore younger than 7d
	// keep   20260407T060000Z  daily 2026-04-07, newest
	// kept 4, removing 1, invalid 1
	// [20260406T060000Z]
}
