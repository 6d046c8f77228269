// Package dirlock is the advisory lock of a backup directory: one create,
// restore or prune at a time, whichever process runs it. A second caller
// either gets a BusyError that names the holder, or waits.
//
// On the OS filesystem the lock is flock(2) on <dir>/.lock (released by the
// kernel when a holder dies, so a crash never leaves a stale lock); the
// holder writes who it is into that file for the error message. Filesystems
// without OS paths (in-memory ones in tests) get a lock within the process.
package dirlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
)

// ErrBusy is matched (errors.Is) by every BusyError.
var ErrBusy = errors.New("backup directory is busy")

// Holder says who holds a lock.
type Holder struct {
	Operation string    `json:"operation"`
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	Since     time.Time `json:"since"`
}

// BusyError is returned when the lock is held and the caller did not ask to wait.
type BusyError struct {
	Dir    string
	Holder *Holder // nil when the holder could not be read
}

func (e *BusyError) Error() string {
	who := "another process"
	if h := e.Holder; h != nil && h.Operation != "" {
		who = fmt.Sprintf("%s (pid %d on %s, since %s)", h.Operation, h.PID, h.Host, h.Since.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("backup directory %s is busy: %s holds its lock; try again when it finishes", e.Dir, who)
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Lock is a held lock. Release it exactly once.
type Lock struct {
	release func()
	once    sync.Once
}

// Release lets the next caller in.
func (l *Lock) Release() {
	if l != nil {
		l.once.Do(l.release)
	}
}

// pollInterval is how often a waiting caller retries.
const pollInterval = 100 * time.Millisecond

// Wait says what a caller does when the lock is held.
type Wait struct {
	// On waits for the lock instead of failing at once with a BusyError.
	On bool
	// Limit gives up waiting after this long, with a BusyError that says
	// so; 0 waits until ctx ends.
	Limit time.Duration
	// Notify, when set, is called once when the wait begins, with the
	// BusyError that names the holder.
	Notify func(busy error)
}

// waiter is one caller's wait for a lock.
type waiter struct {
	Wait
	start    time.Time
	notified bool
}

// held decides what a caller does on finding the lock held by h: nil to
// wait and retry, or the error to return.
func (w *waiter) held(ctx context.Context, dir string, h *Holder) error {
	busy := &BusyError{Dir: dir, Holder: h}
	if !w.On {
		return busy
	}
	if !w.notified {
		w.notified = true
		w.start = time.Now()
		if w.Notify != nil {
			w.Notify(busy)
		}
	}
	if w.Limit > 0 && time.Since(w.start) >= w.Limit {
		return fmt.Errorf("gave up waiting after %s: %w", w.Limit, busy)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting for backup directory %s: %w", dir, ctx.Err())
	case <-time.After(pollInterval):
		return nil
	}
}

// Acquire takes the lock of the backup directory dir on fsys for operation
// op. A held lock gives a *BusyError at once, or, with wait.On, is retried
// until it is free, ctx ends or wait.Limit passes. dir is created if
// missing.
func Acquire(ctx context.Context, fsys afero.Fs, dir, op string, wait Wait) (*Lock, error) {
	if err := fsys.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create backup directory %s: %w", dir, err)
	}
	me := Holder{Operation: op, PID: os.Getpid(), Host: hostname(), Since: time.Now().UTC()}
	if p, ok := durable.OSPath(fsys, filepath.Join(dir, ".lock")); ok {
		return acquireFile(ctx, dir, p, me, wait)
	}
	return acquireMem(ctx, fsys, dir, me, wait)
}

func acquireFile(ctx context.Context, dir, path string, me Holder, wait Wait) (*Lock, error) {
	fl := flock.New(path, flock.SetPermissions(0o600))
	w := &waiter{Wait: wait}
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("lock backup directory %s: %w", dir, err)
		}
		if ok {
			break
		}
		if err := w.held(ctx, dir, readHolder(path)); err != nil {
			return nil, err
		}
	}
	// Say who we are, for a second caller's error message. The lock is on
	// the open file, so rewriting its content does not affect it.
	if b, err := json.Marshal(me); err == nil {
		_ = os.WriteFile(path, append(b, '\n'), 0o600)
	}
	return &Lock{release: func() {
		_ = os.Truncate(path, 0)
		_ = fl.Unlock()
	}}, nil
}

func readHolder(path string) *Holder {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	var h Holder
	if json.Unmarshal(b, &h) != nil {
		return nil
	}
	return &h
}

// In-process locks for filesystems without OS paths, keyed by filesystem and directory.
var (
	memMu    sync.Mutex
	memLocks = map[memKey]*Holder{}
)

type memKey struct {
	fs  afero.Fs
	dir string
}

func acquireMem(ctx context.Context, fsys afero.Fs, dir string, me Holder, wait Wait) (*Lock, error) {
	key := memKey{fsys, filepath.Clean(dir)}
	w := &waiter{Wait: wait}
	for {
		memMu.Lock()
		h, held := memLocks[key]
		if !held {
			memLocks[key] = &me
			memMu.Unlock()
			return &Lock{release: func() {
				memMu.Lock()
				delete(memLocks, key)
				memMu.Unlock()
			}}, nil
		}
		hc := *h
		memMu.Unlock()
		if err := w.held(ctx, dir, &hc); err != nil {
			return nil, err
		}
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown-host"
	}
	return h
}
