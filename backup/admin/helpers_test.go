package admin_test

import (
	"syscall"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
)

func mustConfig(t *testing.T) backup.Config { return testutil.Config(testutil.Root(t)) }

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
