package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// copyRegistry copies the project registry when it exists. Its content is
// not judged here: validation reports invalid JSON.
func (c *creation) copyRegistry(ctx context.Context, meta *Metadata) error {
	if c.cfg.RegistryPath == "" {
		return nil // not configured: recorded as absent
	}
	data, err := os.ReadFile(c.cfg.RegistryPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read registry %s: %w", c.cfg.RegistryPath, err)
	}
	if err := c.mkdir("config"); err != nil {
		return err
	}
	dst := filepath.Join(c.staging, filepath.FromSlash(snapshot.RegistryFile))
	d, err := durable.CopyFile(ctx, c.fs, dst, bytes.NewReader(data), 0o600)
	if err != nil {
		return err
	}
	p := filepath.Join(c.final, filepath.FromSlash(snapshot.RegistryFile))
	meta.RegistrySnapshotPath = &p
	c.addFile(snapshot.RegistryFile, d, liveMode(c.cfg.RegistryPath))
	return nil
}
