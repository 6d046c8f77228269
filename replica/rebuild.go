package replica

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/atocore/atocore-backup/internal/pagedelta"
)

// maxGrowth bounds the database a replay may make, as a multiple of the
// base's size (plus 1 GiB): a damaged segment cannot fill the disk.
const maxGrowth = 16

// Rebuild applies the plan's files, in order, to db: a copy of the base
// snapshot's database, open for reading and writing. Each file must start
// from the checksum the previous one left (pagedelta.Rebuilder), so a
// missing, reordered or damaged segment is an error, never a database
// that silently lacks commits.
func (p *Plan) Rebuild(ctx context.Context, db *os.File) error {
	fi, err := db.Stat()
	if err != nil {
		return err
	}
	limit := maxGrowth*fi.Size() + 1<<30
	rb := pagedelta.NewRebuilder(db)
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
