package replica

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/pagedelta"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// maxGrowth bounds the database a replay may make, as a multiple of the
// base's size (plus 1 GiB): a damaged segment cannot fill the disk.
const maxGrowth = 16

// Rebuild applies the plan's files, in order, to db: a copy of the base
// snapshot's database, open for reading and writing, whose SHA-256 the
// caller checked against the base's manifest (restore does, before it
// calls Rebuild). Each file must start from the checksum the previous one
// left (pagedelta.Rebuilder), so a missing, reordered or damaged segment
// is an error, never a database that silently lacks commits. When the
// chain recorded its base's checksum with that same digest, the copy is
// not read again to sum it.
func (p *Plan) Rebuild(ctx context.Context, db *os.File) error {
	fi, err := db.Stat()
	if err != nil {
		return err
	}
	limit := maxGrowth*fi.Size() + 1<<30
	rb := pagedelta.NewRebuilder(db)
	if sum, err := ltx.ParseChecksum(p.baseSum); err == nil && p.baseSHA256 != "" && p.pageSize > 0 && fi.Size()%int64(p.pageSize) == 0 {
		if want, err := manifestDigest(snapshot.Dir(filepath.Dir(filepath.Dir(filepath.Dir(p.Window.Dir))), p.Window.Base)); err == nil && want == p.baseSHA256 {
			rb = pagedelta.NewRebuilderKnown(db, p.pageSize, fi.Size()/int64(p.pageSize), sum)
		}
	}
	for _, name := range p.Files {
		if err := applyFile(ctx, rb, name, limit); err != nil {
			return err
		}
	}
	return nil
}

func applyFile(ctx context.Context, rb *pagedelta.Rebuilder, name string, limit int64) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("replay %s: %w", name, err)
	}
	defer f.Close()
	if err := rb.Apply(ctx, bufio.NewReaderSize(f, 1<<16), limit); err != nil {
		return fmt.Errorf("replay %s: %w", name, err)
	}
	return nil
}
