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
//
// The bar is made at the first report with a total: a bar of unknown
// length would be a spinner, whose own goroutine keeps drawing after the
// bar is put away (over the summary).
func (a *app) withBar(ctx context.Context, what string) (context.Context, func()) {
	if !cmdline.IsTerminal(a.stderr) || a.f.verbose {
		return ctx, func() {}
	}
	var (
		mu     sync.Mutex
		bar    *progressbar.ProgressBar
		max    int64
		closed bool
	)
	ctx = backup.WithProgress(ctx, func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if closed || total <= 0 {
			return
		}
		switch {
		case bar == nil:
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(a.stderr),
				progressbar.OptionSetDescription(what),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(),
				progressbar.OptionShowTotalBytes(true),
				progressbar.OptionUseIECUnits(true),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
			max = total
		case total != max:
			max = total
			bar.ChangeMax64(total)
		}
		// The total grows as the operation finds its work: a bar at its
		// end would finish (and erase itself) before the work is done.
		_ = bar.Set64(min(done, max-1))
	})
	return ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		closed = true
		if bar != nil {
			_ = bar.Exit()
			_ = bar.Clear()
		}
	}
}
