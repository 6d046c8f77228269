package retention

import "time"

// The calendar periods of the policy, each named by a label that is both the
// text of the keep reason and a sort key: labels of later periods sort after
// labels of earlier ones.

const (
	dayLayout   = "2006-01-02"
	monthLayout = "2006-01"
)

// dayLabel names the calendar day of t in loc: "2026-04-07".
func dayLabel(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(dayLayout)
}

// weekLabel names the week of t in loc by the date of the Sunday that starts
// it: "2026-04-05". A week that spans New Year is one week, named by its
// Sunday in December.
//
// The arithmetic is done on the civil date (y, m, d) in UTC, which has no
// daylight-saving gaps, so a zone whose clocks skip midnight cannot move the
// Sunday to another day.
func weekLabel(t time.Time, loc *time.Location) string {
	local := t.In(loc)
	y, m, d := local.Date()
	sunday := time.Date(y, m, d-int(local.Weekday()), 0, 0, 0, 0, time.UTC)
	return sunday.Format(dayLayout)
}

// monthLabel names the calendar month of t in loc: "2026-04".
func monthLabel(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(monthLayout)
}
