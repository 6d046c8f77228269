package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// FileLocker is an ingestion lock shared between processes through
// flock(2) on a file: a cooperating ingestion process takes the same file
// lock while it writes to the Chroma directory. The AtoCore server passes
// its own in-process lock instead when it embeds this module.
type FileLocker struct {
	// Path is the lock file; it is created if missing.
	Path string
	// Poll is how often Lock retries; 0 means 100 ms.
	Poll time.Duration
}

var _ Locker = (*FileLocker)(nil)

// Lock blocks until the file lock is held or ctx ends.
func (l *FileLocker) Lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o700); err != nil {
		return nil, fmt.Errorf("ingestion lock %s: %w", l.Path, err)
	}
	poll := l.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	fl := flock.New(l.Path, flock.SetPermissions(0o600))
	ok, err := fl.TryLockContext(ctx, poll)
	if err != nil {
		return nil, fmt.Errorf("ingestion lock %s: %w", l.Path, err)
	}
	if !ok {
		return nil, fmt.Errorf("ingestion lock %s: not acquired", l.Path)
	}
	return func() { _ = fl.Unlock() }, nil
}
