package retention

import (
	"testing"
	"time"
)

// stampLayout is the snapshot stamp format of SPEC.md.
const stampLayout = "20060102T150405Z"

// at parses a stamp into its instant, failing the test on a typo.
func at(t *testing.T, stamp string) time.Time {
	t.Helper()
	ts, err := time.Parse(stampLayout, stamp)
	if err != nil {
		t.Fatalf("bad stamp in test data: %v", err)
	}
	return ts
}

// scheduled is a valid scheduled snapshot taken at stamp.
func scheduled(t *testing.T, stamp string) Item {
	return Item{Stamp: stamp, Time: at(t, stamp), Kind: "scheduled", Valid: true}
}

// preRestore is a valid pre-restore snapshot taken at stamp.
func preRestore(t *testing.T, stamp string) Item {
	return Item{Stamp: stamp, Time: at(t, stamp), Kind: "pre-restore", Valid: true}
}

// invalid is a snapshot taken at stamp that failed validation.
func invalid(t *testing.T, stamp, kind string) Item {
	return Item{Stamp: stamp, Time: at(t, stamp), Kind: kind, Valid: false}
}

// scheduledAll is one valid scheduled snapshot per stamp.
func scheduledAll(t *testing.T, stamps ...string) []Item {
	items := make([]Item, 0, len(stamps))
	for _, s := range stamps {
		items = append(items, scheduled(t, s))
	}
	return items
}

// dailyBackups is one valid scheduled snapshot a day at 06:00Z, the way the
// cron job takes them, from first to last inclusive (dates as YYYY-MM-DD).
func dailyBackups(t *testing.T, first, last string) []Item {
	t.Helper()
	from, err1 := time.Parse(time.DateOnly, first)
	to, err2 := time.Parse(time.DateOnly, last)
	if err1 != nil || err2 != nil || to.Before(from) {
		t.Fatalf("bad range %s..%s", first, last)
	}
	var items []Item
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		ts := d.Add(6 * time.Hour)
		items = append(items, Item{Stamp: ts.Format(stampLayout), Time: ts, Kind: "scheduled", Valid: true})
	}
	return items
}

// zone loads a time zone from the tz database embedded by time/tzdata.
func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

// stampsOf returns the stamps of items, in their order.
func stampsOf(items []Item) []string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = it.Stamp
	}
	return s
}
