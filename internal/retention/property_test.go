package retention

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestComputeProperties checks the guards of the policy on random calendars:
// gaps from minutes to months, several backups a day, random kinds, invalid
// snapshots, duplicate stamps, random policies and zones. The seeds are fixed,
// so a failure names the calendar that reproduces it.
func TestComputeProperties(t *testing.T) {
	zones := []*time.Location{
		nil, time.UTC, zone(t, "Europe/Paris"), zone(t, "America/New_York"),
		zone(t, "Pacific/Auckland"), zone(t, "Asia/Kolkata"), zone(t, "America/Santiago"),
	}
	const calendars = 500
	for seed := range uint64(calendars) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		items, policy, now := randomCalendar(r, zones)
		plan := Compute(items, policy, now)
		checkPlan(t, fmt.Sprintf("seed %d", seed), items, policy, now, plan)

		// Input order does not matter once duplicates are gone.
		distinct := firstOfEachStamp(items)
		r.Shuffle(len(distinct), func(i, j int) { distinct[i], distinct[j] = distinct[j], distinct[i] })
		if again := Compute(distinct, policy, now); !reflect.DeepEqual(again, plan) {
			t.Errorf("seed %d: shuffled input gives another plan", seed)
		}

		// Pruning twice is pruning once.
		second := Compute(keptItems(items, plan), policy, now)
		if len(second.Remove) != 0 || !reflect.DeepEqual(second.Keep, plan.Keep) {
			t.Errorf("seed %d: second pass removes %v; keeps\n%s\nfirst kept\n%s",
				seed, second.Remove, formatKeeps(second.Keep), formatKeeps(plan.Keep))
		}
		if t.Failed() {
			return // one broken calendar is enough to read
		}
	}
}

var kinds = []string{"", "manual", "scheduled", "pre-restore", "drill"}

// randomCalendar returns up to 300 snapshots in random order, a policy of
// 0..10 per flag in a random zone, and a planning instant near the newest
// snapshot (sometimes before it, as with clock skew).
func randomCalendar(r *rand.Rand, zones []*time.Location) ([]Item, Policy, time.Time) {
	ts := time.Date(2020+r.IntN(10), time.Month(1+r.IntN(12)), 1+r.IntN(28),
		r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
	n := r.IntN(301)
	items := make([]Item, 0, n)
	for range n {
		switch p := r.IntN(100); {
		case p < 5: // same instant: a duplicate stamp
		case p < 65:
			ts = ts.Add(time.Duration(1+r.IntN(36*60)) * time.Minute)
		case p < 90:
			ts = ts.AddDate(0, 0, 1+r.IntN(10))
		default:
			ts = ts.AddDate(0, 0, 7*(2+r.IntN(7))).Add(time.Duration(r.IntN(86400)) * time.Second)
		}
		it := Item{
			Stamp: ts.Format(stampLayout),
			Time:  ts,
			Kind:  kinds[r.IntN(len(kinds))],
			Valid: r.IntN(100) < 85,
		}
		if r.IntN(100) < 10 { // restored from, some time after it was taken
			it.RestoredAt = ts.Add(time.Duration(r.IntN(30*24)) * time.Hour)
		}
		items = append(items, it)
	}
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	policy := Policy{
		KeepDaily:   r.IntN(11),
		KeepWeekly:  r.IntN(11),
		KeepMonthly: r.IntN(11),
		Location:    zones[r.IntN(len(zones))],
	}
	now := ts.Add(time.Duration(r.IntN(17*24)-3*24) * time.Hour)
	return items, policy, now
}

// firstOfEachStamp returns the item that stands for each stamp: the first.
func firstOfEachStamp(items []Item) []Item {
	seen := make(map[string]bool)
	var distinct []Item
	for _, it := range items {
		if !seen[it.Stamp] {
			seen[it.Stamp] = true
			distinct = append(distinct, it)
		}
	}
	return distinct
}

func checkPlan(t *testing.T, name string, items []Item, p Policy, now time.Time, plan Plan) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s (policy %d/%d/%d %v, %d items): %s", name, p.KeepDaily, p.KeepWeekly,
			p.KeepMonthly, p.location(), len(items), fmt.Sprintf(format, args...))
	}

	byStamp := make(map[string]Item)
	var valid []Item
	for _, it := range firstOfEachStamp(items) {
		byStamp[it.Stamp] = it
		if it.Valid {
			valid = append(valid, it)
		}
	}
	slices.SortFunc(valid, oldestFirst)

	// Keep, Remove and Invalid partition the distinct stamps; each list is
	// sorted oldest first; only valid snapshots are kept or removed.
	placed := make(map[string]string)
	for list, stamps := range map[string][]string{"keep": plan.Kept(), "remove": plan.Remove, "invalid": plan.Invalid} {
		if stamps == nil {
			fail("%s is nil", list)
		}
		for i, s := range stamps {
			it, ok := byStamp[s]
			switch {
			case !ok:
				fail("%s lists unknown stamp %s", list, s)
				continue
			case placed[s] != "":
				fail("%s is in both %s and %s", s, placed[s], list)
			case it.Valid == (list == "invalid"):
				fail("%s (valid %t) is in %s", s, it.Valid, list)
			}
			placed[s] = list
			if i > 0 && oldestFirst(byStamp[stamps[i-1]], it) >= 0 {
				fail("%s is not oldest first at %s", list, s)
			}
		}
	}
	if len(placed) != len(byStamp) {
		fail("%d of %d stamps placed", len(placed), len(byStamp))
	}
	if len(plan.InvalidErrors) != len(plan.Invalid) {
		fail("%d invalid, %d errors", len(plan.Invalid), len(plan.InvalidErrors))
	}
	for _, s := range plan.Invalid {
		if plan.InvalidErrors[s] == "" {
			fail("invalid %s has no error", s)
		}
	}

	// Every keep has reasons, each kind of reason at most once, in order.
	order := []string{"daily ", "weekly ", "monthly ", reasonNewest, reasonPreRestore, reasonRestoredFrom}
	rank := func(reason string) int {
		for i, prefix := range order {
			if strings.HasPrefix(reason, prefix) {
				return i
			}
		}
		return -1
	}
	labels := map[string][]string{} // "daily" -> the period labels kept
	for _, k := range plan.Keep {
		if len(k.Reasons) == 0 {
			fail("%s kept without a reason", k.Stamp)
		}
		for i, reason := range k.Reasons {
			if rank(reason) < 0 || (i > 0 && rank(k.Reasons[i-1]) >= rank(reason)) {
				fail("%s has reasons %q", k.Stamp, k.Reasons)
			}
			if rule, period, ok := strings.Cut(reason, " "); ok && rank(reason) < 3 {
				labels[rule] = append(labels[rule], period)
				checkSlot(t, fail, rule, period, byStamp[k.Stamp], valid, p.location())
			}
		}
	}

	// Each rule fills min(count, periods with a snapshot) slots, and those are
	// the most recent periods.
	for _, r := range []struct {
		rule  string
		count int
		label func(time.Time, *time.Location) string
	}{
		{"daily", p.KeepDaily, dayLabel},
		{"weekly", p.KeepWeekly, weekLabel},
		{"monthly", p.KeepMonthly, monthLabel},
	} {
		periods := make(map[string]bool)
		for _, it := range valid {
			periods[r.label(it.Time, p.location())] = true
		}
		all := slices.Sorted(maps.Keys(periods))
		slices.Reverse(all)
		want := all[:min(max(r.count, 0), len(all))]
		got := slices.Clone(labels[r.rule])
		slices.Sort(got)
		slices.Reverse(got)
		if len(got) > max(r.count, 0) || !slices.Equal(got, want) {
			fail("%s periods kept %v, want the %d most recent: %v", r.rule, got, r.count, want)
		}
	}

	// The newest valid snapshot is kept, and is the only "newest".
	var newest []string
	for _, k := range plan.Keep {
		if slices.Contains(k.Reasons, reasonNewest) {
			newest = append(newest, k.Stamp)
		}
	}
	if len(valid) == 0 && len(newest) != 0 || len(valid) > 0 && !slices.Equal(newest, []string{valid[len(valid)-1].Stamp}) {
		fail("newest = %v", newest)
	}

	// Young (or future-dated) valid pre-restore snapshots, and only they, are
	// anchors.
	reasons := make(map[string][]string)
	for _, k := range plan.Keep {
		reasons[k.Stamp] = k.Reasons
	}
	for _, it := range valid {
		young := it.Kind == "pre-restore" && now.Sub(it.Time) < PreRestoreAnchorAge
		if anchor := slices.Contains(reasons[it.Stamp], reasonPreRestore); anchor != young {
			fail("%s kind %q age %v: anchor %t", it.Stamp, it.Kind, now.Sub(it.Time), anchor)
		}
		recent := !it.RestoredAt.IsZero() && now.Sub(it.RestoredAt) < RestoredFromAge
		if kept := slices.Contains(reasons[it.Stamp], reasonRestoredFrom); kept != recent {
			fail("%s restored %v before now: restored-from %t", it.Stamp, now.Sub(it.RestoredAt), kept)
		}
	}
}

// checkSlot checks that kept, holding the slot "rule period", is in that period
// and is its newest (daily) or oldest (weekly, monthly) valid snapshot.
func checkSlot(t *testing.T, fail func(string, ...any), rule, period string, kept Item, valid []Item, loc *time.Location) {
	t.Helper()
	label := map[string]func(time.Time, *time.Location) string{
		"daily": dayLabel, "weekly": weekLabel, "monthly": monthLabel,
	}[rule]
	if got := label(kept.Time, loc); got != period {
		fail("%s holds %s %s but is in %s", kept.Stamp, rule, period, got)
	}
	for _, other := range valid {
		if label(other.Time, loc) != period || other.Stamp == kept.Stamp {
			continue
		}
		if c := oldestFirst(other, kept); rule == "daily" && c > 0 || rule != "daily" && c < 0 {
			fail("%s holds %s %s but %s is in the same period", kept.Stamp, rule, period, other.Stamp)
		}
	}
}
