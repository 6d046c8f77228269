package target_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/sshdtest"
	"github.com/atocore/atocore-backup/target/targettest"
)

func TestLocalConformance(t *testing.T) {
	targettest.Run(t, func(t *testing.T) target.Target {
		tgt, err := target.Local(filepath.Join(t.TempDir(), "offsite")) // created by Local
		if err != nil {
			t.Fatal(err)
		}
		return tgt
	})
}

func TestMemoryConformance(t *testing.T) {
	targettest.Run(t, func(t *testing.T) target.Target { return target.Memory() })
}

func TestSFTPInProcessConformance(t *testing.T) {
	targettest.Run(t, sftpOpener(sshdtest.StartInProcess(t)))
}

func TestSFTPOpenSSHConformance(t *testing.T) {
	targettest.Run(t, sftpOpener(sshdtest.Start(t)))
}

var dirSeq atomic.Int64

// sftpOpener dials srv for each subtest, with a fresh directory that
// DialSFTP must create.
func sftpOpener(srv *sshdtest.Server) targettest.Opener {
	return func(t *testing.T) target.Target {
		t.Helper()
		tgt, err := target.DialSFTP(t.Context(), sftpConfig(srv, filepath.Join(srv.Dir, fmt.Sprintf("t%d", dirSeq.Add(1)))))
		if err != nil {
			t.Fatal(err)
		}
		return tgt
	}
}

func sftpConfig(srv *sshdtest.Server, dir string) target.SFTPConfig {
	return target.SFTPConfig{
		Addr:           srv.Addr,
		User:           srv.User,
		Path:           dir,
		KnownHostsFile: srv.KnownHostsFile,
		KeyFile:        srv.KeyFile,
	}
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
