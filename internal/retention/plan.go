package retention

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Item is one snapshot as the planner sees it: its identity, its time, its
// kind and whether it passed validation. The caller builds Items from the
// snapshot directory listing and the validation results.
type Item struct {
	// Stamp names the snapshot (YYYYMMDDTHHMMSSZ). It identifies the snapshot
	// in the plan; two Items with the same Stamp are the same snapshot.
	Stamp string
	// Time is the instant of the stamp. The planner reads only Time, never
	// Stamp, to place a snapshot on the calendar.
	Time time.Time
	// Kind is the snapshot's kind from its metadata: "manual", "scheduled",
	// "pre-restore" or "drill", or "" for old snapshots without one. Only
	// "pre-restore" changes the plan: young ones are rollback anchors.
	Kind string
	// Valid is false for snapshots that failed validation or are incomplete.
	// They never fill a slot and are listed in [Plan.Invalid].
	Valid bool
	// Error is, for an invalid snapshot, its first validation error
	// ("code: detail"), reported in [Plan.InvalidErrors].
	Error string
	// RestoredAt is the last time a restore came from this snapshot, zero
	// when none is recorded. A valid snapshot restored from within
	// [RestoredFromAge] is kept ("restored-from").
	RestoredAt time.Time
}

// Keep is a snapshot the plan keeps, with every reason it is kept, in the
// order daily, weekly, monthly, newest, pre-restore, restored-from:
// "daily 2026-04-07", "weekly 2026-04-05", "monthly 2026-04", "newest",
// "pre-restore younger than 7d", "restored-from". Dates name periods in the policy's zone; a
// weekly reason names the Sunday that starts the week.
type Keep struct {
	Stamp   string   `json:"stamp"`
	Reasons []string `json:"reasons"`
}

// Plan is the outcome of [Compute]. Every distinct stamp given to Compute is in
// exactly one of its three lists. The lists are never nil, so they encode as
// JSON arrays even when empty.
type Plan struct {
	// Keep holds the valid snapshots to keep, oldest first.
	Keep []Keep
	// Remove holds the valid snapshots to remove, oldest first.
	Remove []string
	// Invalid holds the invalid or incomplete snapshots, oldest first. They are
	// never kept and never counted by the policy; removing them is the
	// caller's choice (--prune-invalid).
	Invalid []string
	// InvalidErrors maps each stamp of Invalid to its first error
	// ([Item.Error], or a note that none was recorded), so that an
	// operator sees why without running validate. Never nil.
	InvalidErrors map[string]string
}

// Kept returns the stamps of [Plan.Keep], oldest first.
func (pl Plan) Kept() []string {
	stamps := make([]string, 0, len(pl.Keep))
	for _, k := range pl.Keep {
		stamps = append(stamps, k.Stamp)
	}
	return stamps
}

// Describe renders the plan for an operator (the CLI prints it on stderr, for
// a dry run and a real prune alike): one line per snapshot, oldest first, then
// a summary line. Every line ends with a newline.
//
//	keep   20260405T060000Z  weekly 2026-04-05
//	remove 20260406T060000Z
//	invalid 20260406T120000Z  db_missing: db/atocore.db
//	keep   20260407T060000Z  daily 2026-04-07, newest
//	kept 2, removing 1, invalid 1
//
// Lines are ordered by stamp, which for well-formed stamps is time order.
func (pl Plan) Describe() string {
	type line struct{ stamp, text string }
	lines := make([]line, 0, len(pl.Keep)+len(pl.Remove)+len(pl.Invalid))
	for _, k := range pl.Keep {
		text := fmt.Sprintf("%-6s %s", "keep", k.Stamp)
		if len(k.Reasons) > 0 {
			text += "  " + strings.Join(k.Reasons, ", ")
		}
		lines = append(lines, line{k.Stamp, text})
	}
	for _, s := range pl.Remove {
		lines = append(lines, line{s, fmt.Sprintf("%-6s %s", "remove", s)})
	}
	for _, s := range pl.Invalid {
		text := fmt.Sprintf("%-6s %s", "invalid", s)
		if e := pl.InvalidErrors[s]; e != "" {
			text += "  " + strings.Join(strings.Fields(e), " ") // one line per snapshot
		}
		lines = append(lines, line{s, text})
	}
	slices.SortStableFunc(lines, func(a, b line) int { return strings.Compare(a.stamp, b.stamp) })

	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "kept %d, removing %d, invalid %d\n", len(pl.Keep), len(pl.Remove), len(pl.Invalid))
	return b.String()
}
