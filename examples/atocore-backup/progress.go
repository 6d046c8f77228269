package main

import (
	"context"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
)

// withBar shows a progress bar of the bytes the operation run under the
// returned context moves (total, rate and ETA), on stderr when it is a
// terminal and -v is not logging there; never in a pipe or a log. done
// erases it: call it before the summary is printed.
func (a *app) withBar(ctx context.Context, what string) (context.Context, func()) {
	if !cmdline.IsTerminal(a.stderr) || a.f.verbose {
		return ctx, func() {}
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	var max int64 = -1
	ctx = backup.WithProgress(ctx, func(done, total int64) {
		if total != max && total > 0 {
			max = total
			bar.ChangeMax64(total)
		}
		// The total grows as the operation finds its work: a bar at its
		// end would finish (and erase itself) before the work is done.
		_ = bar.Set64(min(done, max-1))
	})
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			_ = bar.Exit()
			_ = bar.Clear()
		})
	}
}
