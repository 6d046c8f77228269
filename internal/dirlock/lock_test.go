package dirlock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

func TestSecondCallerIsBusyThenWaits(t *testing.T) {
	cases := map[string]struct {
		fs  afero.Fs
		dir string
	}{
		"os":  {afero.NewOsFs(), t.TempDir()},
		"mem": {afero.NewMemMapFs(), "/backups"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			first, err := Acquire(ctx, c.fs, c.dir, "create", Wait{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = Acquire(ctx, c.fs, c.dir, "prune", Wait{})
			var be *BusyError
			if !errors.Is(err, ErrBusy) || !errors.As(err, &be) {
				t.Fatalf("second Acquire err = %v, want BusyError", err)
			}
			if !strings.Contains(err.Error(), "create (pid") || !strings.Contains(err.Error(), "try again when it finishes") || strings.Contains(err.Error(), "--") {
				t.Fatalf("busy error does not name the holder and the fix: %q", err)
			}
			got := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				l, err := Acquire(ctx, c.fs, c.dir, "restore", Wait{On: true})
				if err == nil {
					l.Release()
				}
				got <- err
			}()
			time.Sleep(250 * time.Millisecond)
			first.Release()
			first.Release() // a second release is harmless
			if err := <-got; err != nil {
				t.Fatalf("waiting Acquire: %v", err)
			}
		})
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	fs, dir := afero.NewOsFs(), t.TempDir()
	l, err := Acquire(context.Background(), fs, dir, "create", Wait{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, fs, dir, "prune", Wait{On: true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

// A wait with a limit says once who holds the lock, then gives up after
// the limit with an error that still matches ErrBusy and names the holder.
func TestWaitLimitAndNotify(t *testing.T) {
	dir := t.TempDir()
	fs := afero.NewOsFs()
	held, err := Acquire(context.Background(), fs, dir, "create", Wait{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	var told []string
	start := time.Now()
	_, err = Acquire(context.Background(), fs, dir, "prune", Wait{On: true, Limit: 350 * time.Millisecond, Notify: func(busy error) { told = append(told, busy.Error()) }})
	waited := time.Since(start)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "gave up waiting after 350ms") || !strings.Contains(err.Error(), "create (pid") {
		t.Fatalf("err = %v", err)
	}
	if waited < 350*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("waited %v for a limit of 350ms", waited)
	}
	if len(told) != 1 || !strings.Contains(told[0], "create (pid") {
		t.Fatalf("Notify calls: %q", told)
	}
	// Released meanwhile: the waiter gets the lock, and Notify said so once.
	told = nil
	go func() { time.Sleep(300 * time.Millisecond); held.Release() }()
	l, err := Acquire(context.Background(), fs, dir, "prune", Wait{On: true, Limit: 10 * time.Second, Notify: func(busy error) { told = append(told, busy.Error()) }})
	if err != nil || len(told) != 1 {
		t.Fatalf("Acquire after release = %v, Notify %q", err, told)
	}
	l.Release()
}
