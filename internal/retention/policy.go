package retention

import (
	"fmt"
	"time"
)

// Policy says how many daily, weekly and monthly snapshots to keep, and in
// which time zone days, weeks and months begin.
//
// The zero value keeps nothing but the newest valid snapshot (and pre-restore
// snapshots younger than [PreRestoreAnchorAge]); use [DefaultPolicy] for the
// documented defaults. Policy is a plain value: copy it and change a field.
type Policy struct {
	// KeepDaily is the number of most recent calendar days (that have a valid
	// snapshot) whose newest snapshot is kept: the keep-daily flag.
	KeepDaily int
	// KeepWeekly is the number of most recent weeks, starting Sunday 00:00,
	// (that have a valid snapshot) whose oldest snapshot is kept: keep-weekly.
	KeepWeekly int
	// KeepMonthly is the number of most recent calendar months (that have a
	// valid snapshot) whose oldest snapshot is kept: keep-monthly.
	KeepMonthly int
	// Location is the time zone in which days, weeks and months are computed
	// (the --tz flag). Nil means UTC.
	Location *time.Location
}

// DefaultPolicy returns the documented defaults: 7 daily, 4 weekly and
// 6 monthly snapshots, with calendar periods in UTC.
func DefaultPolicy() Policy {
	return Policy{KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 6, Location: time.UTC}
}

// Validate reports a negative count, naming the flag an operator would fix:
// "keep-daily must be 0 or more, got -1". When several counts are negative it
// reports the first, in the order daily, weekly, monthly. [Compute] does not
// call Validate; it treats a negative count as 0.
func (p Policy) Validate() error {
	for _, c := range []struct {
		flag  string
		count int
	}{
		{"keep-daily", p.KeepDaily},
		{"keep-weekly", p.KeepWeekly},
		{"keep-monthly", p.KeepMonthly},
	} {
		if c.count < 0 {
			return fmt.Errorf("%s must be 0 or more, got %d", c.flag, c.count)
		}
	}
	return nil
}

// location is the zone of the calendar periods, UTC when none is set.
func (p Policy) location() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}
