// Package timeline logs the steps of one create or restore at debug level,
// each with when it started (since the operation began) and how long it
// took, so that `create -v` and `restore -v` show which steps ran side by
// side on the two cores and which one the others waited for:
//
//	tl := timeline.New(logger)
//	t0 := time.Now()
//	copyDatabase()
//	tl.Step("database bytes copied", t0, "file", name)
package timeline

import (
	"log/slog"
	"time"
)

// Timeline is the start of one operation and where its steps are logged.
// The zero value logs nothing.
type Timeline struct {
	log   *slog.Logger
	start time.Time
}

// New starts a timeline now; log may be nil (nothing is logged).
func New(log *slog.Logger) Timeline { return Timeline{log: log, start: time.Now()} }

// NewAt starts a timeline at start, when the operation began earlier.
func NewAt(log *slog.Logger, start time.Time) Timeline { return Timeline{log: log, start: start} }

// Step logs the step msg that began at t0 and ends now, with "at" (its
// start, since the operation began), "duration" and the extra attributes.
func (t Timeline) Step(msg string, t0 time.Time, args ...any) {
	if t.log == nil {
		return
	}
	args = append([]any{"at", t0.Sub(t.start).Round(time.Millisecond), "duration", time.Since(t0).Round(time.Millisecond)}, args...)
	t.log.Debug(msg, args...)
}
