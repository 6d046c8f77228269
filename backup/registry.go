package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// copyRegistry copies the project registry when it exists. Its content is
// not judged here: validation reports invalid JSON. Only a regular file of
// at most MaxRegistrySize bytes is read, and the read stops when ctx is
// cancelled.
func (c *creation) copyRegistry(ctx context.Context, meta *Metadata) error {
	if c.cfg.RegistryPath == "" {
		return nil // not configured: recorded as absent
	}
	f, fi, err := durable.OpenRegular(c.cfg.RegistryPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read registry: %w", err)
	}
	defer f.Close()
	if fi.Size() > MaxRegistrySize {
		return registryTooLarge(c.cfg.RegistryPath, fi.Size())
	}
	if err := c.mkdir("config"); err != nil {
		return err
	}
	dst := filepath.Join(c.staging, filepath.FromSlash(snapshot.RegistryFile))
	progress.Plan(ctx, fi.Size())
	// The limit holds even if the file grows while it is read.
	d, err := durable.CopyFile(ctx, c.fs, dst, io.LimitReader(f, MaxRegistrySize+1), 0o600)
	if err != nil {
		return err
	}
	if d.Size > MaxRegistrySize {
		return registryTooLarge(c.cfg.RegistryPath, d.Size)
	}
	p := filepath.Join(c.final, filepath.FromSlash(snapshot.RegistryFile))
	meta.RegistrySnapshotPath = &p
	c.addFile(snapshot.RegistryFile, d, liveMode(c.cfg.RegistryPath))
	return nil
}

// MaxRegistrySize is the largest project registry create copies, in bytes.
// A registry is a few kilobytes of JSON; a larger file is not one, and is
// refused rather than read.
const MaxRegistrySize = 8 << 20

// ErrRegistryTooLarge is matched by errors.Is when the live registry is
// larger than MaxRegistrySize.
var ErrRegistryTooLarge = errors.New("registry too large")

func registryTooLarge(p string, size int64) error {
	return fmt.Errorf("%w: %s is %d bytes, more than the %d bytes (8 MiB) a project registry may hold; "+
		"is the registry path the project-registry JSON file?", ErrRegistryTooLarge, p, size, MaxRegistrySize)
}

// ErrNotRegular is matched by errors.Is when a live file create would read
// (the database, the registry, a Chroma file) is a device, a FIFO or a
// socket: those are refused before they are opened. The error is a
// *durable.NotRegularError naming the file.
var ErrNotRegular = durable.ErrNotRegular
