package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// lockFor holds the backup directory lock of the root at dir, as another
// process's create would, and returns its release.
func lockFor(dir string) (func(), error) {
	l, err := backup.LockDir(context.Background(), backup.Config{Paths: backup.Paths{Root: dir}}, "create", backup.Wait{})
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// --wait=DURATION says who holds the lock and gives up after DURATION
// with exit 11; --wait alone waits until the lock is free.
func TestWaitDuration(t *testing.T) {
	r := testutil.Root(t)
	cli(t, nil, "create", "--root", r.Dir).want(t, 0)
	release, err := lockFor(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := cli(t, nil, "create", "--root", r.Dir, "--wait=700ms").want(t, 11)
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("gave up after %v", d)
	}
	if !strings.Contains(res.stderr, "waiting for up to 700ms") || !strings.Contains(res.stderr, "create (pid") || !strings.Contains(res.stderr, "gave up waiting after 700ms") {
		t.Fatalf("stderr: %s", res.stderr)
	}
	cli(t, nil, "prune", "--root", r.Dir, "--wait=soon").want(t, 2)
	cli(t, nil, "prune", "--root", r.Dir).want(t, 11)
	go func() { time.Sleep(500 * time.Millisecond); release() }()
	res = cli(t, nil, "prune", "--root", r.Dir, "--wait").want(t, 0)
	if !strings.Contains(res.stderr, "waiting until it is free") {
		t.Fatalf("stderr: %s", res.stderr)
	}
}
