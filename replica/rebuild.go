package replica

import (
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
	// Each file is decoded while the one before it is applied: opened
	// one ahead, with up to replayAhead bytes of its pages decoded.
	open := func(i int) (*openDelta, error) {
		f, err := os.Open(p.Files[i])
		if err != nil {
			return nil, fmt.Errorf("replay %s: %w", p.Files[i], err)
		}
		return &openDelta{f: f, d: pagedelta.Decode(f, replayAhead)}, nil
	}
	var next *openDelta
	defer func() {
		if next != nil {
			next.close()
		}
	}()
	if len(p.Files) > 0 {
		if next, err = open(0); err != nil {
			return err
		}
	}
	for i, name := range p.Files {
		cur := next
		next = nil
		if i+1 < len(p.Files) {
			if next, err = open(i + 1); err != nil {
				cur.close()
				return err
			}
		}
		err := rb.ApplyDelta(ctx, cur.d, limit)
		cur.close()
		if err != nil {
			return fmt.Errorf("replay %s: %w", name, err)
		}
	}
	return nil
}

// replayAhead bounds the decoded pages of the next file that wait while
// the file before it is applied: a file of an hour of changes is about
// 10 MiB.
const replayAhead = 16 << 20

// openDelta is one file of the plan, open and being decoded.
type openDelta struct {
	f *os.File
	d *pagedelta.Delta
}

func (o *openDelta) close() {
	o.d.Close()
	o.f.Close()
}
