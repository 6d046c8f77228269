package retention

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// A calendarCase is a set of snapshots with the plan worked out by hand.
type calendarCase struct {
	name    string
	items   []Item
	policy  Policy
	now     string // stamp of the planning instant
	keep    []Keep // exactly, reasons included
	remove  []string
	invalid []string
	// removeRest says that every valid item not in keep is removed, for
	// calendars too long to list (remove then holds only the expected count).
	removeRest bool
	removeLen  int
}

func kp(stamp string, reasons ...string) Keep { return Keep{Stamp: stamp, Reasons: reasons} }

func calendarCases(t *testing.T) []calendarCase {
	paris := zone(t, "Europe/Paris")
	return []calendarCase{
		{
			// 2025-03-04 .. 2026-04-07 is 400 days. 2026-04-07 is a Tuesday, so
			// the most recent week began Sunday 2026-04-05. The six months are
			// Nov 2025 .. Apr 2026; 1 April is a daily too, and 5 April is both
			// daily and weekly: 7 daily + 3 weekly + 5 monthly = 15.
			name:   "400 days of daily backups, default policy",
			items:  dailyBackups(t, "2025-03-04", "2026-04-07"),
			policy: DefaultPolicy(),
			now:    "20260407T120000Z",
			keep: []Keep{
				kp("20251101T060000Z", "monthly 2025-11"),
				kp("20251201T060000Z", "monthly 2025-12"),
				kp("20260101T060000Z", "monthly 2026-01"),
				kp("20260201T060000Z", "monthly 2026-02"),
				kp("20260301T060000Z", "monthly 2026-03"),
				kp("20260315T060000Z", "weekly 2026-03-15"),
				kp("20260322T060000Z", "weekly 2026-03-22"),
				kp("20260329T060000Z", "weekly 2026-03-29"),
				kp("20260401T060000Z", "daily 2026-04-01", "monthly 2026-04"),
				kp("20260402T060000Z", "daily 2026-04-02"),
				kp("20260403T060000Z", "daily 2026-04-03"),
				kp("20260404T060000Z", "daily 2026-04-04"),
				kp("20260405T060000Z", "daily 2026-04-05", "weekly 2026-04-05"),
				kp("20260406T060000Z", "daily 2026-04-06"),
				kp("20260407T060000Z", "daily 2026-04-07", "newest"),
			},
			removeRest: true,
			removeLen:  400 - 15,
		},
		{
			// Slots count back from the newest snapshot, not from now: backups
			// that stopped long ago still keep their dailies.
			name:   "gaps of days, now a year later",
			items:  scheduledAll(t, "20260401T060000Z", "20260403T060000Z", "20260407T060000Z"),
			policy: Policy{KeepDaily: 2},
			now:    "20270401T000000Z",
			keep: []Keep{
				kp("20260403T060000Z", "daily 2026-04-03"),
				kp("20260407T060000Z", "daily 2026-04-07", "newest"),
			},
			remove: []string{"20260401T060000Z"},
		},
		{
			// Weeks that have a backup: 2026-01-04 (Wed 7th, Thu 8th),
			// 2026-02-01 (Tue 3rd), 2026-03-08 (Tue 10th, Thu 12th). The empty
			// weeks between them do not use up a slot.
			name: "gaps of weeks",
			items: scheduledAll(t, "20260107T060000Z", "20260108T060000Z", "20260203T060000Z",
				"20260310T060000Z", "20260312T060000Z"),
			policy: Policy{KeepWeekly: 3},
			now:    "20260312T120000Z",
			keep: []Keep{
				kp("20260107T060000Z", "weekly 2026-01-04"),
				kp("20260203T060000Z", "weekly 2026-02-01"),
				kp("20260310T060000Z", "weekly 2026-03-08"),
				kp("20260312T060000Z", "newest"),
			},
			remove: []string{"20260108T060000Z"},
		},
		{
			name: "gaps of weeks, fewer slots than weeks",
			items: scheduledAll(t, "20260107T060000Z", "20260108T060000Z", "20260203T060000Z",
				"20260310T060000Z", "20260312T060000Z"),
			policy: Policy{KeepWeekly: 2},
			now:    "20260312T120000Z",
			keep: []Keep{
				kp("20260203T060000Z", "weekly 2026-02-01"),
				kp("20260310T060000Z", "weekly 2026-03-08"),
				kp("20260312T060000Z", "newest"),
			},
			remove: []string{"20260107T060000Z", "20260108T060000Z"},
		},
		{
			// Daily keeps the newest of the day; weekly and monthly the oldest.
			name: "several backups per day",
			items: scheduledAll(t, "20260406T010000Z", "20260406T120000Z", "20260406T230000Z",
				"20260407T030000Z", "20260407T090000Z"),
			policy: Policy{KeepDaily: 2, KeepWeekly: 1, KeepMonthly: 1},
			now:    "20260407T120000Z",
			keep: []Keep{
				kp("20260406T010000Z", "weekly 2026-04-05", "monthly 2026-04"),
				kp("20260406T230000Z", "daily 2026-04-06"),
				kp("20260407T090000Z", "daily 2026-04-07", "newest"),
			},
			remove: []string{"20260406T120000Z", "20260407T030000Z"},
		},
		{
			// One second apart, two years and two months.
			name: "month and year boundary",
			items: scheduledAll(t, "20251230T060000Z", "20251231T235959Z", "20260101T000000Z",
				"20260102T060000Z"),
			policy: Policy{KeepDaily: 2, KeepMonthly: 3},
			now:    "20260102T120000Z",
			keep: []Keep{
				kp("20251230T060000Z", "monthly 2025-12"),
				kp("20260101T000000Z", "daily 2026-01-01", "monthly 2026-01"),
				kp("20260102T060000Z", "daily 2026-01-02", "newest"),
			},
			remove: []string{"20251231T235959Z"},
		},
		{
			// Sunday 27 December 2026 starts a week that ends Saturday
			// 2 January 2027: one week, whose oldest backup is the 29th.
			name: "week spanning New Year is one week",
			items: scheduledAll(t, "20261229T060000Z", "20261231T060000Z", "20270101T060000Z",
				"20270102T060000Z"),
			policy: Policy{KeepWeekly: 1},
			now:    "20270102T120000Z",
			keep: []Keep{
				kp("20261229T060000Z", "weekly 2026-12-27"),
				kp("20270102T060000Z", "newest"),
			},
			remove: []string{"20261231T060000Z", "20270101T060000Z"},
		},
		{
			name: "week spanning New Year, with months",
			items: scheduledAll(t, "20261229T060000Z", "20261231T060000Z", "20270101T060000Z",
				"20270102T060000Z", "20270103T060000Z"),
			policy: Policy{KeepWeekly: 2, KeepMonthly: 2},
			now:    "20270103T120000Z",
			keep: []Keep{
				kp("20261229T060000Z", "weekly 2026-12-27", "monthly 2026-12"),
				kp("20270101T060000Z", "monthly 2027-01"),
				kp("20270103T060000Z", "weekly 2027-01-03", "newest"),
			},
			remove: []string{"20261231T060000Z", "20270102T060000Z"},
		},
		{
			// 29 February 2028 is a Tuesday; its week starts Sunday the 27th.
			// The week before (from Sunday the 20th) holds Fri 25th and Sat 26th.
			name:   "29 February 2028",
			items:  dailyBackups(t, "2028-02-25", "2028-03-03"),
			policy: Policy{KeepDaily: 4, KeepWeekly: 2, KeepMonthly: 2},
			now:    "20280303T120000Z",
			keep: []Keep{
				kp("20280225T060000Z", "weekly 2028-02-20", "monthly 2028-02"),
				kp("20280227T060000Z", "weekly 2028-02-27"),
				kp("20280229T060000Z", "daily 2028-02-29"),
				kp("20280301T060000Z", "daily 2028-03-01", "monthly 2028-03"),
				kp("20280302T060000Z", "daily 2028-03-02"),
				kp("20280303T060000Z", "daily 2028-03-03", "newest"),
			},
			remove: []string{"20280226T060000Z", "20280228T060000Z"},
		},
		{
			name: "every snapshot invalid",
			items: []Item{
				invalid(t, "20260407T060000Z", "scheduled"),
				invalid(t, "20260405T060000Z", ""),
				invalid(t, "20260406T060000Z", "pre-restore"),
			},
			policy:  DefaultPolicy(),
			now:     "20260407T120000Z",
			invalid: []string{"20260405T060000Z", "20260406T060000Z", "20260407T060000Z"},
		},
		{
			// The invalid snapshot of the 7th neither is the newest nor makes the
			// 7th's daily; the invalid-only 8th is not a day that has one.
			name: "invalid snapshots never fill a slot",
			items: []Item{
				scheduled(t, "20260406T060000Z"),
				scheduled(t, "20260407T050000Z"),
				invalid(t, "20260407T060000Z", "scheduled"),
				invalid(t, "20260408T060000Z", "manual"),
			},
			policy: Policy{KeepDaily: 1},
			now:    "20260408T120000Z",
			keep: []Keep{
				kp("20260407T050000Z", "daily 2026-04-07", "newest"),
			},
			remove:  []string{"20260406T060000Z"},
			invalid: []string{"20260407T060000Z", "20260408T060000Z"},
		},
		{
			name:   "no snapshots",
			policy: DefaultPolicy(),
			now:    "20260407T120000Z",
		},
		{
			name:   "single snapshot, default policy",
			items:  scheduledAll(t, "20260407T060000Z"),
			policy: DefaultPolicy(),
			now:    "20260407T120000Z",
			keep: []Keep{
				kp("20260407T060000Z", "daily 2026-04-07", "weekly 2026-04-05", "monthly 2026-04", "newest"),
			},
		},
		{
			name:   "single snapshot, all flags 0",
			items:  scheduledAll(t, "20260407T060000Z"),
			now:    "20260407T120000Z",
			keep:   []Keep{kp("20260407T060000Z", "newest")},
			policy: Policy{},
		},
		{
			name:   "all flags 0: only the newest stays",
			items:  dailyBackups(t, "2026-03-29", "2026-04-07"),
			policy: Policy{Location: paris},
			now:    "20260407T120000Z",
			keep:   []Keep{kp("20260407T060000Z", "newest")},
			remove: []string{
				"20260329T060000Z", "20260330T060000Z", "20260331T060000Z", "20260401T060000Z",
				"20260402T060000Z", "20260403T060000Z", "20260404T060000Z", "20260405T060000Z",
				"20260406T060000Z",
			},
		},
		{
			// now is 10 April 12:00. 8 days old and exactly 7 days old are not
			// anchors; 2 days old is; one dated after now (clock skew) is too. An
			// invalid pre-restore is only reported.
			name: "pre-restore anchors, all flags 0",
			items: []Item{
				scheduled(t, "20260401T060000Z"),
				preRestore(t, "20260402T120000Z"),
				preRestore(t, "20260403T120000Z"),
				preRestore(t, "20260408T120000Z"),
				invalid(t, "20260409T120000Z", "pre-restore"),
				scheduled(t, "20260410T060000Z"),
				preRestore(t, "20260411T000000Z"),
			},
			policy: Policy{},
			now:    "20260410T120000Z",
			keep: []Keep{
				kp("20260408T120000Z", "pre-restore younger than 7d"),
				kp("20260411T000000Z", "newest", "pre-restore younger than 7d"),
			},
			remove:  []string{"20260401T060000Z", "20260402T120000Z", "20260403T120000Z", "20260410T060000Z"},
			invalid: []string{"20260409T120000Z"},
		},
		{
			name: "pre-restore anchor with every other reason, in order",
			items: []Item{
				scheduled(t, "20260409T060000Z"),
				preRestore(t, "20260410T100000Z"),
			},
			policy: DefaultPolicy(),
			now:    "20260410T120000Z",
			keep: []Keep{
				kp("20260409T060000Z", "daily 2026-04-09", "weekly 2026-04-05", "monthly 2026-04"),
				kp("20260410T100000Z", "daily 2026-04-10", "newest", "pre-restore younger than 7d"),
			},
		},
		{
			// An old pre-restore snapshot is an ordinary snapshot: it can still
			// fill a slot.
			name: "old pre-restore fills a monthly slot",
			items: []Item{
				preRestore(t, "20260320T060000Z"),
				scheduled(t, "20260325T060000Z"),
				scheduled(t, "20260410T060000Z"),
			},
			policy: Policy{KeepMonthly: 2},
			now:    "20260410T120000Z",
			keep: []Keep{
				kp("20260320T060000Z", "monthly 2026-03"),
				kp("20260410T060000Z", "monthly 2026-04", "newest"),
			},
			remove: []string{"20260325T060000Z"},
		},
		{
			// Paris local times: Sun 5 Apr 00:30, Sun 5 Apr 23:00, Tue 7 Apr 01:30.
			name: "Europe/Paris: a late-evening UTC stamp is the next day",
			items: scheduledAll(t, "20260404T223000Z", "20260405T210000Z",
				"20260406T233000Z"),
			policy: Policy{KeepDaily: 1, KeepWeekly: 2, Location: paris},
			now:    "20260407T120000Z",
			keep: []Keep{
				kp("20260404T223000Z", "weekly 2026-04-05"),
				kp("20260406T233000Z", "daily 2026-04-07", "newest"),
			},
			remove: []string{"20260405T210000Z"},
		},
		{
			// The same snapshots in UTC: Sat 4th, Sun 5th, Mon 6th; two weeks.
			name: "same snapshots in UTC",
			items: scheduledAll(t, "20260404T223000Z", "20260405T210000Z",
				"20260406T233000Z"),
			policy: Policy{KeepDaily: 1, KeepWeekly: 2},
			now:    "20260407T120000Z",
			keep: []Keep{
				kp("20260404T223000Z", "weekly 2026-03-29"),
				kp("20260405T210000Z", "weekly 2026-04-05"),
				kp("20260406T233000Z", "daily 2026-04-06", "newest"),
			},
		},
		{
			// Paris springs forward on Sunday 29 March 2026: local times are
			// Sat 23:30 CET, Sun 00:30 CET, Mon 00:30 CEST.
			name: "Europe/Paris: spring forward",
			items: scheduledAll(t, "20260328T223000Z", "20260328T233000Z",
				"20260329T223000Z"),
			policy: Policy{KeepDaily: 3, KeepWeekly: 2, Location: paris},
			now:    "20260330T120000Z",
			keep: []Keep{
				kp("20260328T223000Z", "daily 2026-03-28", "weekly 2026-03-22"),
				kp("20260328T233000Z", "daily 2026-03-29", "weekly 2026-03-29"),
				kp("20260329T223000Z", "daily 2026-03-30", "newest"),
			},
		},
		{
			// Paris falls back on Sunday 25 October 2026: local times are
			// Sun 00:30 CEST, Sun 23:30 CET, Mon 00:30 CET.
			name: "Europe/Paris: fall back",
			items: scheduledAll(t, "20261024T223000Z", "20261025T223000Z",
				"20261025T233000Z"),
			policy: Policy{KeepDaily: 2, KeepWeekly: 1, Location: paris},
			now:    "20261026T120000Z",
			keep: []Keep{
				kp("20261024T223000Z", "weekly 2026-10-25"),
				kp("20261025T223000Z", "daily 2026-10-25"),
				kp("20261025T233000Z", "daily 2026-10-26", "newest"),
			},
		},
		{
			// The first item with a stamp stands for it; later ones are ignored.
			name: "duplicate stamps: first wins",
			items: []Item{
				scheduled(t, "20260407T060000Z"),
				invalid(t, "20260406T060000Z", "scheduled"),
				invalid(t, "20260407T060000Z", "scheduled"),
				scheduled(t, "20260406T060000Z"),
			},
			policy: DefaultPolicy(),
			now:    "20260407T120000Z",
			keep: []Keep{
				kp("20260407T060000Z", "daily 2026-04-07", "weekly 2026-04-05", "monthly 2026-04", "newest"),
			},
			invalid: []string{"20260406T060000Z"},
		},
		{
			// Equal times are ordered by stamp, whatever the input order.
			name: "equal times ordered by stamp",
			items: []Item{
				{Stamp: "b", Time: time.Date(2026, 4, 7, 6, 0, 0, 0, time.UTC), Kind: "manual", Valid: true},
				{Stamp: "a", Time: time.Date(2026, 4, 7, 6, 0, 0, 0, time.UTC), Kind: "manual", Valid: true},
			},
			policy: Policy{KeepDaily: 1, KeepWeekly: 1},
			now:    "20260407T120000Z",
			keep: []Keep{
				kp("a", "weekly 2026-04-05"),
				kp("b", "daily 2026-04-07", "newest"),
			},
		},
	}
}

func TestCompute(t *testing.T) {
	for _, tc := range calendarCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			input := slices.Clone(tc.items)
			plan := Compute(input, tc.policy, at(t, tc.now))
			if !reflect.DeepEqual(input, tc.items) {
				t.Errorf("Compute changed its input")
			}

			if !reflect.DeepEqual(plan.Keep, orEmpty(tc.keep)) {
				t.Errorf("Keep:\n%s\nwant:\n%s", formatKeeps(plan.Keep), formatKeeps(tc.keep))
			}
			wantRemove := tc.remove
			if tc.removeRest {
				wantRemove = validNotKept(tc.items, tc.keep)
				if len(wantRemove) != tc.removeLen {
					t.Fatalf("test data: %d to remove, comment says %d", len(wantRemove), tc.removeLen)
				}
			}
			if !reflect.DeepEqual(plan.Remove, orEmpty(wantRemove)) {
				t.Errorf("Remove = %v, want %v", plan.Remove, wantRemove)
			}
			if !reflect.DeepEqual(plan.Invalid, orEmpty(tc.invalid)) {
				t.Errorf("Invalid = %v, want %v", plan.Invalid, tc.invalid)
			}
		})
	}
}

// Input order does not matter.
func TestComputeIgnoresInputOrder(t *testing.T) {
	for _, tc := range calendarCases(t) {
		if tc.name == "duplicate stamps: first wins" {
			continue // there order decides, by contract
		}
		t.Run(tc.name, func(t *testing.T) {
			now := at(t, tc.now)
			reversed := slices.Clone(tc.items)
			slices.Reverse(reversed)
			if a, b := Compute(tc.items, tc.policy, now), Compute(reversed, tc.policy, now); !reflect.DeepEqual(a, b) {
				t.Errorf("plan depends on input order:\n%s\nreversed:\n%s", a.Describe(), b.Describe())
			}
		})
	}
}

// Planning again over only the kept snapshots keeps them all, for the same
// reasons: pruning twice is pruning once.
func TestComputeIsIdempotent(t *testing.T) {
	for _, tc := range calendarCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			now := at(t, tc.now)
			first := Compute(tc.items, tc.policy, now)
			kept := keptItems(tc.items, first)
			second := Compute(kept, tc.policy, now)
			if len(second.Remove) != 0 {
				t.Errorf("second plan removes %v", second.Remove)
			}
			if !reflect.DeepEqual(first.Keep, second.Keep) {
				t.Errorf("second plan keeps:\n%s\nfirst kept:\n%s", formatKeeps(second.Keep), formatKeeps(first.Keep))
			}
		})
	}
}

// keptItems returns the items (first of each stamp) that plan keeps.
func keptItems(items []Item, plan Plan) []Item {
	keep := make(map[string]bool)
	for _, k := range plan.Keep {
		keep[k.Stamp] = true
	}
	var kept []Item
	for _, it := range items {
		if keep[it.Stamp] {
			kept = append(kept, it)
			delete(keep, it.Stamp)
		}
	}
	return kept
}

// validNotKept lists, in order, the stamps of valid items not in keep; items
// must be sorted oldest first.
func validNotKept(items []Item, keep []Keep) []string {
	kept := make(map[string]bool)
	for _, k := range keep {
		kept[k.Stamp] = true
	}
	var rest []string
	for _, it := range items {
		if it.Valid && !kept[it.Stamp] {
			rest = append(rest, it.Stamp)
		}
	}
	return rest
}

// orEmpty turns nil into an empty slice: Plan's lists are never nil.
func orEmpty[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

func formatKeeps(keeps []Keep) string {
	var s string
	for _, k := range keeps {
		s += fmt.Sprintf("  %s %q\n", k.Stamp, k.Reasons)
	}
	return s
}

func TestPreRestoreReasonMatchesAnchorAge(t *testing.T) {
	want := fmt.Sprintf("pre-restore younger than %dd", PreRestoreAnchorAge/(24*time.Hour))
	if reasonPreRestore != want {
		t.Errorf("reasonPreRestore = %q, but PreRestoreAnchorAge says %q", reasonPreRestore, want)
	}
}
