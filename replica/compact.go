package replica

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/afero"
	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/durable"
)

// compactor merges a chain's L0 files into one L1 file per minute, and
// its L1 files into one L2 file per hour (ltx.Compactor: the pages of
// the later file win), so that a restore to a time reads at most about
// a day's hours, an hour's minutes and a minute's ticks. The finer files
// stay: a restore to any second needs them inside the last minute and
// hour it replays. It runs on a goroutine of its own, so that a long
// compaction never delays a tick.
type compactor struct {
	dir      string
	interval time.Duration
	log      *slog.Logger
	fail     func(error)

	mu      sync.Mutex
	running bool
	last    time.Time // the minute last looked at
	wg      sync.WaitGroup
}

func newCompactor(dir string, interval time.Duration, log *slog.Logger, fail func(error)) *compactor {
	return &compactor{dir: dir, interval: interval, log: log, fail: fail}
}

// poke is called after each tick seen at `at`; once per minute it starts
// a compaction unless one is running.
func (c *compactor) poke(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	minute := at.Truncate(time.Minute)
	if c.running || !minute.After(c.last) {
		return
	}
	c.last, c.running = minute, true
	c.wg.Go(func() {
		defer func() { c.mu.Lock(); c.running = false; c.mu.Unlock() }()
		// A period is complete once no tick can fall in it any more.
		done := at.Add(-2 * c.interval)
		for level := 1; level < len(levels); level++ {
			if err := compactLevel(context.Background(), c.dir, level, done); err != nil {
				c.fail(fmt.Errorf("compact %s: %w", levels[level].dir, err))
				return
			}
		}
	})
}

// wait waits for a running compaction to end.
func (c *compactor) wait() { c.wg.Wait() }

// compactLevel writes the files of level that the files of level-1 make
// for every period (the level's span) that ended by `done` and that no
// file of level covers yet.
func compactLevel(ctx context.Context, chain string, level int, done time.Time) error {
	src, err := listLevel(chain, level-1)
	if err != nil {
		return err
	}
	dst, err := listLevel(chain, level)
	if err != nil {
		return err
	}
	covered := ltx.TXID(1)
	if len(dst) > 0 {
		covered = dst[len(dst)-1].max
	}
	span := levels[level].span
	var group []file
	var period time.Time
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		err := compactFiles(ctx, filepath.Join(chain, levels[level].dir), group)
		if err == nil {
			covered = group[len(group)-1].max
		}
		group = group[:0]
		return err
	}
	for _, f := range src {
		if f.max <= covered {
			continue
		}
		if f.min != covered+1 && len(group) == 0 || len(group) > 0 && f.min != group[len(group)-1].max+1 {
			return nil // a hole (a file not yet written, or removed): wait
		}
		h, err := readHeader(f.path)
		if err != nil {
			return err
		}
		p := time.UnixMilli(h.Timestamp).Truncate(span)
		if !p.Add(span).Before(done) {
			break // this period (and every later one) is not over
		}
		if len(group) > 0 && !p.Equal(period) {
			if err := flush(); err != nil {
				return err
			}
		}
		period = p
		group = append(group, f)
	}
	return flush()
}

// compactFiles merges files (contiguous TXIDs) into one file of dir.
func compactFiles(ctx context.Context, dir string, files []file) (err error) {
	name := filepath.Join(dir, ltx.FormatFilename(files[0].min, files[len(files)-1].max))
	if len(files) == 1 && files[0].level+1 == levelOf(dir) {
		// One file: a link is its compaction.
		if err := os.Link(files[0].path, name); err == nil || os.IsExist(err) {
			return durable.SyncDir(afero.NewOsFs(), dir)
		}
	}
	var rdrs []io.Reader
	for _, f := range files {
		in, err := os.Open(f.path)
		if err != nil {
			return err
		}
		defer in.Close()
		rdrs = append(rdrs, bufio.NewReaderSize(in, 1<<16))
	}
	tmp := durable.TempName(name, "tmp")
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(out, 1<<16)
	c, err := ltx.NewCompactor(w, rdrs)
	if err != nil {
		return err
	}
	c.SetSpillDir(dir)
	if err := c.Compact(ctx); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	return durable.SyncDir(afero.NewOsFs(), dir)
}

func levelOf(dir string) int {
	for i, l := range levels {
		if filepath.Base(dir) == l.dir {
			return i
		}
	}
	return -1
}
