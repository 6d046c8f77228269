package retention

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"
)

// PreRestoreAnchorAge is the age under which a valid pre-restore snapshot is
// kept whatever the policy: it is the way back from a recent restore.
const PreRestoreAnchorAge = 7 * 24 * time.Hour

// RestoredFromAge is how long the snapshot a restore came from is kept
// whatever the policy (SPEC restore rule 11): while the restored state is
// young, the snapshot it came from is what a second look compares it with.
const RestoredFromAge = 7 * 24 * time.Hour

const (
	kindPreRestore     = "pre-restore"
	reasonNewest       = "newest"
	reasonPreRestore   = "pre-restore younger than 7d" // keep in step with PreRestoreAnchorAge
	reasonRestoredFrom = "restored-from"
	// noErrorRecorded stands for the error of an invalid Item without one.
	noErrorRecorded = "invalid (no error recorded)"
)

// Compute plans a prune: which snapshots of one location the policy keeps (and
// why), which valid ones it removes, and which are invalid. It is pure: it
// reads no clock and changes nothing, and the order of items does not matter.
//
// now is used only to age pre-restore snapshots: a valid pre-restore snapshot
// with now - Time < [PreRestoreAnchorAge] is kept, and so is one dated after
// now, because clock skew must never delete a rollback anchor. The daily,
// weekly and monthly slots count back from the newest valid snapshot, not from
// now. Snapshots of every kind fill those slots. now also ages restores: a
// valid snapshot whose RestoredAt is set and younger than [RestoredFromAge]
// (or after now) is kept with the reason "restored-from".
//
// If several items share a Stamp, the first one in items stands for the
// snapshot and the others are ignored. Negative counts in p are treated as 0;
// call [Policy.Validate] to reject them.
func Compute(items []Item, p Policy, now time.Time) Plan {
	var valid, invalid []Item
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it.Stamp] {
			continue
		}
		seen[it.Stamp] = true
		if it.Valid {
			valid = append(valid, it)
		} else {
			invalid = append(invalid, it)
		}
	}
	slices.SortFunc(valid, oldestFirst)
	slices.SortFunc(invalid, oldestFirst)

	// reasons[i] collects why valid[i] is kept, appended in the documented
	// order: daily, weekly, monthly, newest, pre-restore, restored-from.
	reasons := make([][]string, len(valid))
	loc := p.location()
	for _, r := range []periodRule{
		{name: "daily", count: p.KeepDaily, label: dayLabel, keepNewest: true},
		{name: "weekly", count: p.KeepWeekly, label: weekLabel},
		{name: "monthly", count: p.KeepMonthly, label: monthLabel},
	} {
		for i, period := range r.pick(valid, loc) {
			reasons[i] = append(reasons[i], r.name+" "+period)
		}
	}
	if n := len(valid); n > 0 {
		reasons[n-1] = append(reasons[n-1], reasonNewest)
	}
	for i, it := range valid {
		if it.Kind == kindPreRestore && now.Sub(it.Time) < PreRestoreAnchorAge {
			reasons[i] = append(reasons[i], reasonPreRestore)
		}
		if !it.RestoredAt.IsZero() && now.Sub(it.RestoredAt) < RestoredFromAge {
			reasons[i] = append(reasons[i], reasonRestoredFrom)
		}
	}

	plan := Plan{Keep: []Keep{}, Remove: []string{}, Invalid: []string{}, InvalidErrors: map[string]string{}}
	for i, it := range valid {
		if len(reasons[i]) > 0 {
			plan.Keep = append(plan.Keep, Keep{Stamp: it.Stamp, Reasons: reasons[i]})
		} else {
			plan.Remove = append(plan.Remove, it.Stamp)
		}
	}
	for _, it := range invalid {
		plan.Invalid = append(plan.Invalid, it.Stamp)
		plan.InvalidErrors[it.Stamp] = cmp.Or(it.Error, noErrorRecorded)
	}
	return plan
}

// oldestFirst orders items by time, then by stamp so that equal times still
// give one order whatever the input order.
func oldestFirst(a, b Item) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Stamp, b.Stamp)
}

// A periodRule keeps one snapshot in each of the count most recent calendar
// periods that have one: the newest snapshot of the period for daily, the
// oldest for weekly and monthly.
type periodRule struct {
	name       string
	count      int
	label      func(time.Time, *time.Location) string
	keepNewest bool
}

// pick returns, for items sorted oldest first, the index of each snapshot the
// rule keeps mapped to the label of its period.
//
// Periods are ranked by label rather than by walking the sorted items, so the
// ranking stays right even in a zone whose clocks step back across midnight.
func (r periodRule) pick(items []Item, loc *time.Location) map[int]string {
	if r.count <= 0 {
		return nil
	}
	chosen := make(map[string]int) // period label -> index in items
	for i, it := range items {
		period := r.label(it.Time, loc)
		if _, ok := chosen[period]; !ok || r.keepNewest {
			chosen[period] = i
		}
	}
	periods := slices.Sorted(maps.Keys(chosen))
	slices.Reverse(periods)
	picked := make(map[int]string, min(r.count, len(periods)))
	for _, period := range periods[:min(r.count, len(periods))] {
		picked[chosen[period]] = period
	}
	return picked
}
