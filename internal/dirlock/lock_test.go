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
			first, err := Acquire(ctx, c.fs, c.dir, "create", false)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Acquire(ctx, c.fs, c.dir, "prune", false)
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
				l, err := Acquire(ctx, c.fs, c.dir, "restore", true)
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
	l, err := Acquire(context.Background(), fs, dir, "create", false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, fs, dir, "prune", true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}
