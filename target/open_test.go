package target_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

// Opening a target never creates it unless asked (read-only commands): a
// typo'd address is "not found", with nothing made. Asked to create (push),
// only the last directory is made, under a parent that exists: a typo'd or
// unmounted parent is not filled with a new tree.
func TestOpenMissingTargetIsNotFoundAndNothingIsCreated(t *testing.T) {
	ctx := context.Background()
	// Each kind returns a directory the target's server can reach, and how
	// to open a target directory in it.
	type opener func(dir string, create bool) (target.Target, error)
	sftp := func(srv *sshdtest.Server) (string, opener) {
		return srv.Dir, func(dir string, create bool) (target.Target, error) {
			return target.Open(ctx, srv.URL(dir), target.Options{KnownHostsFile: srv.KnownHostsFile, KeyFile: srv.KeyFile, SSHConfigFile: target.NoSSHConfig, Create: create})
		}
	}
	for _, kind := range []struct {
		name  string
		start func(t *testing.T) (string, opener)
	}{
		{"file", func(t *testing.T) (string, opener) {
			return t.TempDir(), func(dir string, create bool) (target.Target, error) {
				return target.Open(ctx, "file://"+dir, target.Options{Create: create})
			}
		}},
		{"sftp openssh", func(t *testing.T) (string, opener) { return sftp(sshdtest.Start(t)) }},
		{"sftp in-process", func(t *testing.T) (string, opener) { return sftp(sshdtest.StartInProcess(t)) }},
	} {
		t.Run(kind.name, func(t *testing.T) {
			base, open := kind.start(t)
			typo := filepath.Join(base, "typo", "atocore")
			for _, create := range []bool{false, true} {
				tgt, err := open(typo, create)
				var nf *target.NotFoundError
				if !errors.As(err, &nf) {
					if tgt != nil {
						tgt.Close()
					}
					t.Fatalf("create=%v: open %s: err = %v, want a *target.NotFoundError", create, typo, err)
				}
				if _, err := os.Lstat(filepath.Join(base, "typo")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("create=%v: opening a missing target created %s", create, filepath.Join(base, "typo"))
				}
			}
			fresh := filepath.Join(base, "fresh")
			if tgt, err := open(fresh, false); err == nil {
				tgt.Close()
				t.Fatal("a missing target opened without Create")
			}
			if _, err := os.Lstat(fresh); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("opening without Create made %s", fresh)
			}
			tgt, err := open(fresh, true)
			if err != nil {
				t.Fatalf("create a target under an existing parent: %v", err)
			}
			tgt.Close()
			if fi, err := os.Stat(fresh); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
				t.Fatalf("the created target: %v, %v", fi, err)
			}
			tgt, err = open(fresh, false)
			if err != nil {
				t.Fatalf("open an existing target: %v", err)
			}
			tgt.Close()
		})
	}
}
