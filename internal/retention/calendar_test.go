package retention

import (
	"testing"
	_ "time/tzdata" // the tests need Europe/Paris and friends on any machine
)

// Each row was checked against a calendar by hand.
func TestCalendarLabels(t *testing.T) {
	for _, tc := range []struct {
		stamp, zone      string
		day, week, month string
	}{
		{"20260406T060000Z", "UTC", "2026-04-06", "2026-04-05", "2026-04"},
		// Sunday 00:00 starts a week; one second earlier is the week before.
		{"20260405T000000Z", "UTC", "2026-04-05", "2026-04-05", "2026-04"},
		{"20260404T235959Z", "UTC", "2026-04-04", "2026-03-29", "2026-04"},
		// A late-evening UTC stamp is the next day in Paris (CEST, UTC+2).
		{"20260406T233000Z", "UTC", "2026-04-06", "2026-04-05", "2026-04"},
		{"20260406T233000Z", "Europe/Paris", "2026-04-07", "2026-04-05", "2026-04"},
		// Saturday evening UTC is already Sunday, and a new week, in Paris.
		{"20260404T223000Z", "Europe/Paris", "2026-04-05", "2026-04-05", "2026-04"},
		// UTC+5:30.
		{"20260406T190000Z", "Asia/Kolkata", "2026-04-07", "2026-04-05", "2026-04"},
		// The last day of March in UTC is already April in Auckland (NZDT, UTC+13).
		{"20260331T120000Z", "UTC", "2026-03-31", "2026-03-29", "2026-03"},
		{"20260331T120000Z", "Pacific/Auckland", "2026-04-01", "2026-03-29", "2026-04"},
		// The week of 27 December 2026 runs into 2027 and stays one week.
		{"20261227T060000Z", "UTC", "2026-12-27", "2026-12-27", "2026-12"},
		{"20270101T060000Z", "UTC", "2027-01-01", "2026-12-27", "2027-01"},
		{"20270102T235959Z", "UTC", "2027-01-02", "2026-12-27", "2027-01"},
		{"20270103T000000Z", "UTC", "2027-01-03", "2027-01-03", "2027-01"},
		{"20261231T233000Z", "Europe/Paris", "2027-01-01", "2026-12-27", "2027-01"},
		// Leap day 2028 is a Tuesday; its week starts Sunday 27 February.
		{"20280229T060000Z", "UTC", "2028-02-29", "2028-02-27", "2028-02"},
		{"20280301T060000Z", "UTC", "2028-03-01", "2028-02-27", "2028-03"},
		// Paris springs forward on Sunday 29 March 2026 at 01:00Z.
		{"20260328T223000Z", "Europe/Paris", "2026-03-28", "2026-03-22", "2026-03"},
		{"20260328T233000Z", "Europe/Paris", "2026-03-29", "2026-03-29", "2026-03"},
		{"20260329T223000Z", "Europe/Paris", "2026-03-30", "2026-03-29", "2026-03"},
		// ... and falls back on Sunday 25 October 2026 at 01:00Z.
		{"20261024T223000Z", "Europe/Paris", "2026-10-25", "2026-10-25", "2026-10"},
		{"20261025T223000Z", "Europe/Paris", "2026-10-25", "2026-10-25", "2026-10"},
		{"20261025T233000Z", "Europe/Paris", "2026-10-26", "2026-10-25", "2026-10"},
		// Santiago springs forward at midnight: Sunday 6 September 2026 has no 00:00.
		{"20260907T120000Z", "America/Santiago", "2026-09-07", "2026-09-06", "2026-09"},
		{"20260906T050000Z", "America/Santiago", "2026-09-06", "2026-09-06", "2026-09"},
	} {
		loc := zone(t, tc.zone)
		ts := at(t, tc.stamp)
		if got := dayLabel(ts, loc); got != tc.day {
			t.Errorf("dayLabel(%s, %s) = %s, want %s", tc.stamp, tc.zone, got, tc.day)
		}
		if got := weekLabel(ts, loc); got != tc.week {
			t.Errorf("weekLabel(%s, %s) = %s, want %s", tc.stamp, tc.zone, got, tc.week)
		}
		if got := monthLabel(ts, loc); got != tc.month {
			t.Errorf("monthLabel(%s, %s) = %s, want %s", tc.stamp, tc.zone, got, tc.month)
		}
	}
}
