package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// maxFrames bounds the frames one tick reads from the -wal (4 GiB of
// 4 KiB pages). A -wal longer than that is replicated by a full
// comparison instead.
const maxFrames = 1 << 20

// How a tick learns which pages changed since the last one.
//
// The pages a tick writes always come from SQLite: sqlite_dbpage, inside
// one read transaction of the follower's connection, so a segment is one
// committed state of the database (the one that transaction sees). The
// -wal only says which pages may have changed: every page written since
// the follower's position is in a frame after it. A tick reads the frames
// after its position, reads those pages through SQLite, and writes the
// ones whose content differs from what the chain holds.
//
// The position then moves to the last commit frame whose pages, as the
// read transaction sees them, are exactly that frame's state (checked page
// by page): a commit the transaction includes. Any position at or before
// the transaction's own is safe (pages are only ever sent in excess), so
// when no commit frame checks out the position stays.
//
// Between two ticks the service may checkpoint and restart the -wal
// (frames written again from 1, salt-1 one more). The frames after the
// follower's position that the old generation held are then still in the
// file past the new generation's last frame, until it grows that far:
// they are read there (old salts, checksum chain continued). When that
// cannot be shown to be complete (the new generation has passed the
// position, the -wal was truncated, restarted twice, or deleted), the
// tick compares every page of the database with the chain's table
// instead: a full comparison, O(database), rare, and reported.
type follower struct {
	path string // the live database
	db   *sql.DB
	conn *sql.Conn
	page *sql.Stmt // SELECT data FROM sqlite_dbpage WHERE pgno = ?, on conn
	t    *table
	pos  walPos
	sm   *summer
	// clock, when set, replaces time.Now for the tick's time (a benchmark
	// replays a day in minutes).
	clock func() time.Time
}

// walPos is where the follower stands in the -wal.
type walPos struct {
	// known is false before the first tick, or when the last tick saw no
	// valid -wal header (noWAL then says so).
	known        bool
	noWAL        bool
	dbStat       fileStamp // the database file at a tick that saw no -wal
	bigEndian    bool
	salt1, salt2 uint32
	after        uint32 // frames of this generation already accounted for
	sum          walSum // the checksum after frame `after`
	size         int64  // the -wal's size at that tick
}

// fileStamp is what stat says of a file: a checkpoint writes the database
// file, so its size and modification time change.
type fileStamp struct {
	size  int64
	mtime time.Time
	ok    bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime(), ok: true}
}

// openFollower opens a connection to the live database that is kept for
// the follower's life. It reads only: it never writes, never
// checkpoints, and holds a read transaction only during a tick. (It does
// keep SQLite's SHARED lock on the database file, as every open
// connection does in WAL mode, so the -wal is not deleted when the
// service closes its last connection.)
func openFollower(ctx context.Context, path string, t *table) (*follower, error) {
	db, err := sqlitedb.OpenLive(path)
	if err != nil {
		return nil, fmt.Errorf("open the live database %s: %w", path, err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open the live database %s: %w", path, err)
	}
	f := &follower{path: path, db: db, conn: conn, t: t, sm: newSummer()}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		f.close()
		return nil, fmt.Errorf("read the journal mode of %s: %w", path, err)
	}
	if mode != "wal" {
		f.close()
		return nil, fmt.Errorf("%s: %w (it is %q)", path, ErrNotWAL, mode)
	}
	if f.page, err = conn.PrepareContext(ctx, "SELECT data FROM sqlite_dbpage WHERE pgno = ?"); err != nil {
		f.close()
		return nil, fmt.Errorf("read pages of %s: %w", path, err)
	}
	return f, nil
}

// ErrNotWAL is matched by errors.Is when the live database is not in WAL
// mode: replication follows the -wal, and changing a database's journal
// mode is the service's decision, not this tool's.
var ErrNotWAL = errors.New("the live database is not in WAL mode")

func (f *follower) close() {
	if f.page != nil {
		f.page.Close()
	}
	if f.conn != nil {
		f.conn.Close()
	}
	f.db.Close()
}

// change is what one tick found: the database's size and its changed
// pages, already written to the sink, and where the follower will stand
// once the segment is in place.
type change struct {
	at      time.Time // when the read transaction saw the database; nothing committed later is in it
	commit  uint32    // the database's size in pages
	changed []pageChange
	next    walPos
	full    string // why the tick compared every page ("" when the -wal said which)
}

type pageChange struct {
	pgno uint32
	sum  pageSum
}

// sink receives a tick's changed pages, in page order; begin is called
// before the first, only when there is one (or the size changed).
type sink interface {
	begin(commit uint32, at time.Time, pre uint64) error
	page(pgno uint32, data []byte) error
}

// tick reads what changed since the last tick and writes it to out. It
// leaves the follower's state as it was: commit applies a change once its
// segment is in place.
func (f *follower) tick(ctx context.Context, out sink) (*change, error) {
	at, err := f.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer f.conn.ExecContext(context.Background(), "ROLLBACK")

	var commit int64
	if err := f.conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&commit); err != nil {
		return nil, fmt.Errorf("read the size of %s: %w", f.path, err)
	}
	var pageSize int64
	if err := f.conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return nil, fmt.Errorf("read the page size of %s: %w", f.path, err)
	}
	ch := &change{at: at, commit: uint32(commit)}
	if uint32(pageSize) != f.t.pageSize {
		return nil, fmt.Errorf("%s: %w (%d, the chain's %d)", f.path, errPageSize, pageSize, f.t.pageSize)
	}

	w, err := openWAL(f.path + "-wal")
	if err != nil {
		return nil, err
	}
	defer w.close()
	plan, err := f.plan(w)
	if err != nil {
		return nil, err
	}
	ch.full = plan.full

	frameSums := map[uint32]pageSum{} // what the transaction sees of the pages the frames name
	var newPages []pageChange
	began := false
	emit := func(pgno uint32, data []byte, s pageSum) error {
		if !began {
			if err := out.begin(ch.commit, at, uint64(f.t.checksum)); err != nil {
				return err
			}
			began = true
		}
		newPages = append(newPages, pageChange{pgno, s})
		return out.page(pgno, data)
	}
	if plan.full != "" {
		if err := f.scanAll(ctx, ch.commit, plan.pages, frameSums, emit); err != nil {
			return nil, err
		}
	} else {
		if err := f.readPages(ctx, ch.commit, plan.pages, frameSums, emit); err != nil {
			return nil, err
		}
	}
	if !began && ch.commit != f.t.count() {
		if err := out.begin(ch.commit, at, uint64(f.t.checksum)); err != nil {
			return nil, err
		}
	}
	// A -wal that restarted during the tick (possible only when the
	// transaction reads the database file alone) may have hidden frames
	// from the scan: its header says so.
	if !plan.base.noWAL {
		if now, err := w.header(); err != nil || now.salt1 != plan.hdr.salt1 || now.salt2 != plan.hdr.salt2 {
			if plan.full == "" {
				return nil, errIncomplete
			}
			plan.frames, plan.base = nil, walPos{}
		}
	}
	ch.changed = newPages
	ch.next = plan.settle(ch.commit, frameSums)
	ch.next.size = w.sizeNow()
	if !ch.next.known {
		ch.next.dbStat = stampOf(f.path)
	}
	return ch, nil
}

var errPageSize = errors.New("the page size changed (VACUUM with another page_size): start a new chain")

// commit makes a change the follower's state, once its segment is in place.
func (f *follower) commit(ch *change) {
	for _, p := range ch.changed {
		f.t.set(p.pgno, p.sum)
	}
	f.t.truncate(ch.commit)
	f.pos = ch.next
}

// tightRead is how closely a tick's read transaction is placed in time:
// its view of the database is fixed between two clock readings at most
// this far apart (else it is begun again, a few times).
const tightRead = time.Millisecond

// beginRead starts the tick's read transaction. The time returned is
// taken once SQLite has fixed the transaction's view, so that nothing
// committed after it is in what the tick reads; and the view was fixed
// at most tightRead before it (SQLite may wait a moment for a writer's
// commit to take a read mark), so that what was committed before it is.
func (f *follower) beginRead(ctx context.Context) (time.Time, error) {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 && err != nil {
			select {
			case <-ctx.Done():
				return time.Time{}, ctx.Err()
			case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
			}
		}
		if _, err = f.conn.ExecContext(ctx, "BEGIN"); err != nil {
			return time.Time{}, fmt.Errorf("read %s: %w", f.path, err)
		}
		t0 := time.Now()
		var n int
		err = f.conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n)
		t1 := time.Now()
		if err == nil && (t1.Sub(t0) <= tightRead || attempt >= 9) {
			if f.clock != nil {
				return f.clock(), nil
			}
			return t1, nil
		}
		f.conn.ExecContext(context.Background(), "ROLLBACK")
		if err != nil && !sqlitedb.IsBusy(err) {
			break
		}
	}
	return time.Time{}, fmt.Errorf("read %s: %w", f.path, err)
}

// framePlan is what the -wal says about a tick.
type framePlan struct {
	full  string   // why every page must be compared; "" when pages says which
	pages []uint32 // pages named by frames since the position, sorted
	// frames of the generation the read transaction is in, from `base`
	// on, for settle: base is the position the next one starts from when
	// no commit frame checks out.
	frames []walFrame
	hdr    walHeader
	base   walPos
}

// plan reads the -wal: which pages may have changed, or why that is not
// known.
func (f *follower) plan(w *walFile) (framePlan, error) {
	hdr, err := w.header()
	if errors.Is(err, errNoWAL) {
		p := framePlan{base: walPos{noWAL: true}}
		if f.pos.noWAL && f.pos.dbStat.ok && f.pos.dbStat == stampOf(f.path) {
			return p, nil // still no -wal, and no checkpoint wrote the file
		}
		p.full = "no -wal to say what changed"
		if f.pos.known {
			p.full = "the -wal was emptied (truncated or deleted) since the last tick"
		}
		return p, nil
	}
	if err != nil {
		return framePlan{}, err
	}
	if hdr.pageSize != f.t.pageSize {
		return framePlan{}, fmt.Errorf("%s: %w (the -wal's is %d)", f.path, errPageSize, hdr.pageSize)
	}
	start := walPos{known: true, bigEndian: hdr.bigEndian, salt1: hdr.salt1, salt2: hdr.salt2, sum: hdr.sum}
	pos := f.pos
	switch {
	case pos.known && hdr.salt1 == pos.salt1 && hdr.salt2 == pos.salt2:
		frames, err := w.scan(hdr, pos.after, pos.sum, maxFrames)
		if err != nil {
			return framePlan{}, err
		}
		p := framePlan{frames: frames, hdr: hdr, base: pos}
		if len(frames) == maxFrames {
			p.full = "the -wal holds more frames than one tick reads"
		}
		p.pages = pagesOf(frames)
		return p, nil

	case pos.known && hdr.salt1 == pos.salt1+1:
		// One restart since the last tick: the old generation's frames
		// after the position are still there if the new one has not
		// reached them and the file was not cut.
		old := walHeader{bigEndian: pos.bigEndian, pageSize: hdr.pageSize, salt1: pos.salt1, salt2: pos.salt2}
		tail, err := w.scan(old, pos.after, pos.sum, maxFrames)
		if err != nil {
			return framePlan{}, err
		}
		frames, err := w.scan(hdr, 0, hdr.sum, maxFrames)
		if err != nil {
			return framePlan{}, err
		}
		p := framePlan{frames: frames, hdr: hdr, base: start}
		switch {
		case uint32(len(frames)) > pos.after:
			p.full = "the -wal restarted and its new frames overwrote ones not yet read"
		case w.sizeNow() < pos.size:
			p.full = "the -wal was truncated since the last tick"
		case len(tail) == maxFrames || len(frames) == maxFrames:
			p.full = "the -wal holds more frames than one tick reads"
		}
		p.pages = pagesOf(append(tail, frames...))
		return p, nil

	case pos.noWAL && f.pos.dbStat.ok && f.pos.dbStat == stampOf(f.path):
		// No -wal last time and no checkpoint since: this generation is
		// the first, and its frames hold every change.
		frames, err := w.scan(hdr, 0, hdr.sum, maxFrames)
		if err != nil {
			return framePlan{}, err
		}
		p := framePlan{frames: frames, hdr: hdr, base: start, pages: pagesOf(frames)}
		if len(frames) == maxFrames {
			p.full = "the -wal holds more frames than one tick reads"
		}
		return p, nil

	default:
		frames, err := w.scan(hdr, 0, hdr.sum, maxFrames)
		if err != nil {
			return framePlan{}, err
		}
		p := framePlan{frames: frames, hdr: hdr, base: start, pages: pagesOf(frames), full: "first tick of the chain"}
		if pos.known || pos.noWAL {
			p.full = "the -wal restarted more than once since the last tick"
		}
		if len(frames) == maxFrames {
			p.frames = nil // no commit of it can be settled on
		}
		return p, nil
	}
}

func pagesOf(frames []walFrame) []uint32 {
	seen := make(map[uint32]bool, len(frames))
	var out []uint32
	for _, fr := range frames {
		if !seen[fr.pgno] {
			seen[fr.pgno] = true
			out = append(out, fr.pgno)
		}
	}
	slices.Sort(out)
	return out
}

// settle picks where the next tick starts: the last commit frame whose
// state is the one the read transaction saw (its size, and every page its
// frames name, as seen), else the plan's base. seen holds the sums of the
// pages the frames name, as the transaction read them.
func (p framePlan) settle(commit uint32, seen map[uint32]pageSum) walPos {
	next := p.base
	if p.base.noWAL {
		return p.base
	}
	latest := map[uint32]pageSum{}
	// Try the commits from the last one back; a few suffice (the
	// transaction began a moment before the frames were read).
	var commits []int
	for i, fr := range p.frames {
		if fr.commit != 0 {
			commits = append(commits, i)
		}
	}
	for k := len(commits) - 1; k >= 0 && k >= len(commits)-4; k-- {
		i := commits[k]
		if p.frames[i].commit != commit {
			continue
		}
		clear(latest)
		for _, fr := range p.frames[:i+1] {
			latest[fr.pgno] = fr.page
		}
		ok := true
		for pgno, s := range latest {
			if got, read := seen[pgno]; pgno <= commit && (!read || got != s) {
				ok = false
				break
			}
		}
		if ok {
			fr := p.frames[i]
			return walPos{known: true, bigEndian: p.hdr.bigEndian, salt1: p.hdr.salt1, salt2: p.hdr.salt2, after: fr.index, sum: fr.sum}
		}
	}
	return next
}

// readPages reads the pages the frames named (within the database's size)
// and emits those that differ from the table, plus any page past the
// table's end. A page past the table's end that no frame named means the
// -wal did not say everything: that is a full comparison's job.
func (f *follower) readPages(ctx context.Context, commit uint32, pages []uint32, seen map[uint32]pageSum, emit func(uint32, []byte, pageSum) error) error {
	named := 0
	var buf []byte
	for _, pgno := range pages {
		if pgno > commit || pgno == f.t.lock {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		if err := f.page.QueryRowContext(ctx, pgno).Scan(&buf); err != nil {
			return fmt.Errorf("read page %d of %s: %w", pgno, f.path, err)
		}
		if uint32(len(buf)) != f.t.pageSize {
			return fmt.Errorf("read page %d of %s: %d bytes, not %d", pgno, f.path, len(buf), f.t.pageSize)
		}
		s := f.sm.sum(pgno, buf)
		seen[pgno] = s
		if pgno > f.t.count() {
			named++
		}
		if old, ok := f.t.get(pgno); !ok || old != s {
			if err := emit(pgno, buf, s); err != nil {
				return err
			}
		}
	}
	grown := int(commit) - int(f.t.count())
	if f.t.lock > f.t.count() && f.t.lock <= commit {
		grown--
	}
	if grown > named {
		return fmt.Errorf("%s grew by %d pages the -wal did not name: %w", f.path, grown-named, errIncomplete)
	}
	return nil
}

// errIncomplete is a tick whose -wal did not account for every change;
// the replicator answers it with a full comparison.
var errIncomplete = errors.New("the -wal did not name every changed page")

// scanAll reads every page and emits those that differ from the table.
func (f *follower) scanAll(ctx context.Context, commit uint32, named []uint32, seen map[uint32]pageSum, emit func(uint32, []byte, pageSum) error) error {
	want := make(map[uint32]bool, len(named))
	for _, p := range named {
		want[p] = true
	}
	rows, err := f.conn.QueryContext(ctx, "SELECT pgno, data FROM sqlite_dbpage")
	if err != nil {
		return fmt.Errorf("read the pages of %s: %w", f.path, err)
	}
	defer rows.Close()
	var data sql.RawBytes
	next := uint32(1)
	for rows.Next() {
		var pgno int64
		if err := rows.Scan(&pgno, &data); err != nil {
			return fmt.Errorf("read the pages of %s: %w", f.path, err)
		}
		if uint32(pgno) != next || uint32(len(data)) != f.t.pageSize {
			return fmt.Errorf("read the pages of %s: page %d came as page %d of %d bytes", f.path, next, pgno, len(data))
		}
		next++
		if uint32(pgno) == f.t.lock {
			continue
		}
		s := f.sm.sum(uint32(pgno), data)
		if want[uint32(pgno)] {
			seen[uint32(pgno)] = s
		}
		if old, ok := f.t.get(uint32(pgno)); !ok || old != s {
			if err := emit(uint32(pgno), data, s); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the pages of %s: %w", f.path, err)
	}
	if next-1 != commit {
		return fmt.Errorf("read the pages of %s: %d pages, page_count says %d", f.path, next-1, commit)
	}
	return nil
}
