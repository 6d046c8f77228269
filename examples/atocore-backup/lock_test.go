package main

import (
	"context"

	"github.com/atocore/atocore-backup/backup"
)

// lockFor holds the backup directory lock of the root at dir, as another
// process's create would, and returns its release.
func lockFor(dir string) (func(), error) {
	l, err := backup.LockDir(context.Background(), backup.Config{Paths: backup.Paths{Root: dir}}, "create", false)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}
