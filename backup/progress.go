package backup

import (
	"context"

	"github.com/atocore/atocore-backup/internal/progress"
)

// WithProgress returns a context under which the long operations report
// the bytes they move to report: Create, validate.Snapshot, restore.Run,
// the drill, and the off-site Push, Pull and Validate of package
// offsite. report gets the bytes done and the total planned so far (it
// grows as an operation finds its work); it may be called from several
// goroutines, one at a time, and must return quickly.
func WithProgress(ctx context.Context, report func(done, total int64)) context.Context {
	return progress.With(ctx, report)
}
