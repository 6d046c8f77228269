package sqlitedb

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/durable"
)

// A live database (or its -wal) that is not a regular file is refused
// before SQLite opens it, by the online copy and by the checkpoint restore
// runs on the live database.
func TestLiveDatabaseMustBeARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	walFIFO := makeWALDB(t, 3)
	if err := syscall.Mkfifo(walFIFO+"-wal", 0o600); err != nil {
		t.Fatal(err)
	}
	for _, live := range []string{fifo, "/dev/zero", walFIFO} {
		ops := map[string]func() error{
			"OnlineCopy": func() error {
				_, err := OnlineCopy(context.Background(), live, filepath.Join(t.TempDir(), "copy.db"))
				return err
			},
			"Checkpoint": func() error { return Checkpoint(context.Background(), live) },
		}
		for name, op := range ops {
			done := make(chan error, 1)
			go func() { done <- op() }()
			select {
			case err := <-done:
				if !errors.Is(err, durable.ErrNotRegular) {
					t.Errorf("%s(%s) = %v, want ErrNotRegular", name, live, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s(%s) did not return", name, live)
			}
		}
	}
}
