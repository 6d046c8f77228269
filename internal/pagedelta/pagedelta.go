// Package pagedelta makes and applies page deltas of snapshot databases:
// the pages of a database that differ from those of an earlier copy, as a
// standard LTX file (github.com/superfly/ltx, the format of Litestream and
// LiteFS), so that a push sends a few MiB where the whole database
// changed by 1%, and `ltx apply` rebuilds it without this tool.
//
// Pages are read through SQLite (the sqlite_dbpage table of the snapshot
// opened read-only and immutable), never by parsing the file ourselves.
// A delta carries the LTX checksums of the database before and after it:
// Apply refuses a base that is not the delta's, and a result that is not
// what the delta says. The caller still compares the result's SHA-256
// with the snapshot's manifest before it places anything.
//
//	st, err := pagedelta.Write(ctx, fsys, oldDB, newDB, pagedelta.Header{TXID: 2, Time: t}, w)
//	err = pagedelta.ApplyTo(ctx, rebuilt, r, maxSize) // rebuilt: a copy of oldDB, open read-write
package pagedelta

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/spf13/afero"
	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/ctxio"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// ErrNotComparable is matched by errors.Is when two databases cannot be
// compared page by page (other page sizes): the caller sends the whole file.
var ErrNotComparable = errors.New("the databases have different page sizes")

// Header is what a caller says of a delta it writes.
type Header struct {
	// TXID is the delta's place in its chain: 2 for the first delta on a
	// whole file (which is TXID 1 in LTX terms), one more for each delta
	// after it.
	TXID uint64
	// Time is the LTX timestamp: the new snapshot's creation, so that the
	// same two databases always give the same bytes.
	Time time.Time
}

// Stats says what a delta holds.
type Stats struct {
	PageSize uint32 // bytes
	Pages    uint32 // pages of the new database
	Changed  uint32 // pages in the delta
	Bytes    int64  // size of the LTX file
	// BaseSHA256 and SHA256 are the SHA-256 of the base's and of the new
	// database's pages, in order, as SQLite read them: the files' own
	// digests, which the caller compares with the snapshots' manifests
	// (a base damaged on disk would make a delta for another database).
	BaseSHA256, SHA256 string
}

// ChangedBytes is the size of the pages the delta carries, uncompressed.
func (s Stats) ChangedBytes() int64 { return int64(s.Changed) * int64(s.PageSize) }

// Write writes to w the LTX delta that makes the snapshot database newDB
// of the snapshot database baseDB, both on fsys: every page of newDB that
// baseDB lacks or holds otherwise, and newDB's size. Both are read once,
// in page order, side by side.
func Write(ctx context.Context, fsys afero.Fs, baseDB, newDB string, hdr Header, w io.Writer) (Stats, error) {
	if hdr.TXID < 2 {
		return Stats{}, fmt.Errorf("page delta: TXID %d: a delta follows a whole file (TXID 1)", hdr.TXID)
	}
	base, err := openPages(ctx, fsys, baseDB)
	if err != nil {
		return Stats{}, err
	}
	defer base.close()
	next, err := openPages(ctx, fsys, newDB)
	if err != nil {
		return Stats{}, err
	}
	defer next.close()
	if base.pageSize != next.pageSize {
		return Stats{}, fmt.Errorf("page delta of %s on %s: %w (%d, %d)", newDB, baseDB, ErrNotComparable, next.pageSize, base.pageSize)
	}
	st := Stats{PageSize: next.pageSize, Pages: next.count}
	lock := ltx.LockPgno(st.PageSize)

	// The pre-apply checksum covers all of the base, so it is known only
	// once the base is read: the pages are gathered first (only the
	// changed ones, compared as they stream), then encoded.
	var changed []uint32
	// Each database's checksums are summed on a core of their own while
	// the pages are compared.
	bsum, nsum := startSummer(st.PageSize), startSummer(st.PageSize)
	defer bsum.wait()
	defer nsum.wait()
	bs, err := base.scan(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer bs.close()
	ns, err := next.scan(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer ns.close()
	for pgno := uint32(1); pgno <= max(base.count, next.count); pgno++ {
		if err := ctx.Err(); err != nil {
			return Stats{}, err
		}
		var b, n []byte
		if pgno <= base.count {
			if b, err = bs.next(pgno); err != nil {
				return Stats{}, err
			}
		}
		if pgno <= next.count {
			if n, err = ns.next(pgno); err != nil {
				return Stats{}, err
			}
		}
		if b != nil {
			bsum.add(pgno, b)
		}
		if n != nil {
			nsum.add(pgno, n)
		}
		if pgno == lock {
			// SQLite never writes the lock page; neither does LTX.
			if !allZero(n) {
				return Stats{}, fmt.Errorf("page delta of %s: %w: its lock page %d holds data", newDB, ErrNotComparable, pgno)
			}
			continue
		}
		if n != nil && (b == nil || string(b) != string(n)) {
			changed = append(changed, pgno)
		}
	}
	pre, baseSHA := bsum.wait()
	post, nextSHA := nsum.wait()
	st.BaseSHA256, st.SHA256 = baseSHA, nextSHA
	if err := bs.end(); err != nil {
		return Stats{}, err
	}
	if err := ns.end(); err != nil {
		return Stats{}, err
	}
	bs.close() // each database has one connection: the pages are read next
	ns.close()
	enc, err := ltx.NewEncoder(w)
	if err != nil {
		return Stats{}, err
	}
	if err := enc.EncodeHeader(ltx.Header{
		Version: ltx.Version, PageSize: st.PageSize, Commit: st.Pages,
		MinTXID: ltx.TXID(hdr.TXID), MaxTXID: ltx.TXID(hdr.TXID),
		Timestamp: hdr.Time.UnixMilli(), PreApplyChecksum: pre,
	}); err != nil {
		return Stats{}, fmt.Errorf("page delta of %s: %w", newDB, err)
	}
	for _, pgno := range changed {
		if err := ctx.Err(); err != nil {
			return Stats{}, err
		}
		data, err := next.page(pgno)
		if err != nil {
			return Stats{}, err
		}
		if err := enc.EncodePage(ltx.PageHeader{Pgno: pgno}, data); err != nil {
			return Stats{}, fmt.Errorf("page delta of %s: %w", newDB, err)
		}
	}
	enc.SetPostApplyChecksum(post)
	if err := enc.Close(); err != nil {
		return Stats{}, fmt.Errorf("page delta of %s: %w", newDB, err)
	}
	st.Changed, st.Bytes = uint32(len(changed)), enc.N()
	return st, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// pages reads one snapshot database's pages through SQLite.
type pages struct {
	db       *sql.DB
	closeFn  func()
	stmt     *sql.Stmt
	pageSize uint32
	count    uint32
	buf      []byte
}

func openPages(ctx context.Context, fsys afero.Fs, name string) (*pages, error) {
	db, closeFn, err := sqlitedb.OpenSnapshotDB(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("page delta: open %s: %w", name, err)
	}
	p := &pages{db: db, closeFn: closeFn}
	var size, count int64
	err = db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size)
	if err == nil {
		err = db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&count)
	}
	if err == nil && (!validPageSize(size) || count < 1 || count > 1<<31) {
		err = fmt.Errorf("page size %d, %d pages: not a database this tool wrote", size, count)
	}
	if err == nil {
		p.stmt, err = db.PrepareContext(ctx, "SELECT data FROM sqlite_dbpage WHERE pgno = ?")
	}
	if err != nil {
		closeFn()
		return nil, fmt.Errorf("page delta: read %s: %w", name, err)
	}
	p.pageSize, p.count = uint32(size), uint32(count)
	return p, nil
}

// page returns page pgno; the slice is valid until the next call.
func (p *pages) page(pgno uint32) ([]byte, error) {
	p.buf = p.buf[:0]
	if err := p.stmt.QueryRow(pgno).Scan(&p.buf); err != nil {
		return nil, fmt.Errorf("page delta: read page %d: %w", pgno, err)
	}
	if uint32(len(p.buf)) != p.pageSize {
		return nil, fmt.Errorf("page delta: page %d is %d bytes, not %d", pgno, len(p.buf), p.pageSize)
	}
	return p.buf, nil
}

// scan reads every page in order, one query for all.
func (p *pages) scan(ctx context.Context) (*scanner, error) {
	rows, err := p.db.QueryContext(ctx, "SELECT pgno, data FROM sqlite_dbpage")
	if err != nil {
		return nil, fmt.Errorf("page delta: read pages: %w", err)
	}
	return &scanner{rows: rows, size: p.pageSize}, nil
}

// scanner is one pass over a database's pages.
type scanner struct {
	rows *sql.Rows
	size uint32
	data sql.RawBytes
}

// next returns page pgno, which must be the one after the previous; the
// slice is valid until the next call.
func (s *scanner) next(pgno uint32) ([]byte, error) {
	if !s.rows.Next() {
		if err := s.rows.Err(); err != nil {
			return nil, fmt.Errorf("page delta: read page %d: %w", pgno, err)
		}
		return nil, fmt.Errorf("page delta: the database ends before page %d", pgno)
	}
	var got int64
	if err := s.rows.Scan(&got, &s.data); err != nil {
		return nil, fmt.Errorf("page delta: read page %d: %w", pgno, err)
	}
	if got != int64(pgno) || uint32(len(s.data)) != s.size {
		return nil, fmt.Errorf("page delta: page %d came as page %d of %d bytes", pgno, got, len(s.data))
	}
	return s.data, nil
}

// end checks that the pass ended without error.
func (s *scanner) end() error {
	if err := s.rows.Err(); err != nil {
		return fmt.Errorf("page delta: read pages: %w", err)
	}
	return nil
}

func (s *scanner) close() { s.rows.Close() }

func (p *pages) close() {
	if p.stmt != nil {
		p.stmt.Close()
	}
	p.closeFn()
}

func validPageSize(n int64) bool {
	return n >= 512 && n <= 65536 && n&(n-1) == 0
}

// The name of a delta on a target: the file's own name, the stamp of the
// snapshot whose copy of it the delta applies to, and LTX's extension.
const (
	nameMark = ".from-"
	nameExt  = ".ltx"
)

// Name is the name of the delta of the file rel against its copy in the
// snapshot base: "db/atocore.db.from-20261207T020000Z.ltx".
func Name(rel, base string) string { return rel + nameMark + base + nameExt }

// Parse is Name's inverse: ok is false for a name that is not a delta's.
func Parse(name string) (rel, base string, ok bool) {
	if !strings.HasSuffix(name, nameExt) {
		return "", "", false
	}
	i := strings.LastIndex(name, nameMark)
	if i <= 0 {
		return "", "", false
	}
	rel, base = name[:i], strings.TrimSuffix(name[i+len(nameMark):], nameExt)
	if base == "" || strings.ContainsAny(base, "/.") {
		return "", "", false
	}
	return rel, base, true
}

// File is what ApplyTo changes: a database file open for reading and
// writing.
type File interface {
	io.ReadSeeker
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
}

// ApplyTo applies the LTX delta read from r to the database f in place,
// as `ltx apply` does: f must have the checksum the delta was made on
// (else ErrWrongBase, and f is unchanged); the delta's pages are written
// over it, it is cut to the delta's size, and its checksum must then be
// the one the delta says. The result may not pass maxSize bytes (a delta
// names its size; a hostile one could name terabytes). On any other
// error f holds no database anyone should use.
func ApplyTo(ctx context.Context, f File, r io.Reader, maxSize int64) error {
	return NewRebuilder(f).Apply(ctx, r, maxSize)
}

// Rebuilder applies the deltas of a chain to one database file in place,
// one after the other. It reads the whole file once, for the first
// delta's base checksum; after that it keeps the checksum up to date
// from the pages it writes and cuts, so a chain of deltas costs the
// pages they hold, not a read of the database per delta.
type Rebuilder struct {
	f        File
	known    bool // sum and pages are f's
	pageSize uint32
	sum      ltx.Checksum
	pages    int64
}

// NewRebuilder starts a rebuild of the database f.
func NewRebuilder(f File) *Rebuilder { return &Rebuilder{f: f} }

// NewRebuilderFrom starts a rebuild of the database f, which t saw
// written whole: its checksum is t's, and the first delta does not read
// f again. (A t that saw no whole database leaves that to the first
// delta.)
func NewRebuilderFrom(f File, t *Tracker) *Rebuilder {
	rb := &Rebuilder{f: f}
	if sum, pages, size, ok := t.done(); ok {
		rb.known, rb.pageSize, rb.sum, rb.pages = true, size, sum, pages
	}
	return rb
}

// NewRebuilderKnown starts a rebuild of the database f whose LTX
// checksum, page size and size in pages the caller already knows (a
// restore to a time: the chain recorded its base's checksum with the
// SHA-256 of the base's bytes, and the staged copy was checked against
// that digest). The first delta then does not read f again; a wrong
// claim only makes the first delta refuse it (ErrWrongBase) or, for a
// claim that matches the delta but not f, a database whose pages the
// caller must still check (integrity_check).
func NewRebuilderKnown(f File, pageSize uint32, pages int64, sum ltx.Checksum) *Rebuilder {
	return &Rebuilder{f: f, known: true, pageSize: pageSize, sum: sum, pages: pages}
}

// Tracker is an io.Writer that sums a database file's LTX checksum as
// the file is written through it (the page size from its SQLite header),
// on a goroutine of its own: the copy that starts a chain then needs no
// second read of the file (NewRebuilderFrom). Its writes never fail.
type Tracker struct {
	head  []byte // the first bytes, until the header is in
	page  []byte // the page being filled
	size  uint32
	pgno  uint32
	s     *summer
	bad   bool
	ended bool
	sum   ltx.Checksum
}

// Write takes the next bytes of the file.
func (t *Tracker) Write(p []byte) (int, error) {
	n := len(p)
	if t.bad {
		return n, nil
	}
	if t.s == nil {
		t.head = append(t.head, p...)
		if len(t.head) < 100 {
			return n, nil
		}
		size := uint32(binary.BigEndian.Uint16(t.head[16:18]))
		if size == 1 {
			size = 65536
		}
		if string(t.head[:16]) != "SQLite format 3\x00" || !validPageSize(int64(size)) {
			t.bad, t.head = true, nil
			return n, nil
		}
		t.size, t.s = size, startSummer(size)
		p, t.head = t.head, nil
	}
	for len(p) > 0 {
		k := min(len(p), int(t.size)-len(t.page))
		t.page = append(t.page, p[:k]...)
		p = p[k:]
		if len(t.page) == int(t.size) {
			t.pgno++
			t.s.add(t.pgno, t.page)
			t.page = t.page[:0]
		}
	}
	return n, nil
}

// done ends the sum: the checksum, pages and page size of a whole
// database, ok false when what was written was not one.
func (t *Tracker) done() (ltx.Checksum, int64, uint32, bool) {
	if t.s == nil || t.bad {
		return 0, 0, 0, false
	}
	if !t.ended {
		t.ended = true
		t.sum, _ = t.s.wait()
	}
	return t.sum, int64(t.pgno), t.size, len(t.page) == 0
}

// Close ends the tracker's goroutine when it is not handed to a Rebuilder.
func (t *Tracker) Close() error {
	if t.s != nil && !t.ended {
		t.ended = true
		t.sum, _ = t.s.wait()
	}
	return nil
}

// Apply applies the next delta, read from r, as ApplyTo does.
func (rb *Rebuilder) Apply(ctx context.Context, r io.Reader, maxSize int64) error {
	d := Decode(r, 0)
	defer d.Close()
	return rb.ApplyDelta(ctx, d, maxSize)
}

// ApplyDelta applies the next delta, d (see Decode), as ApplyTo does.
func (rb *Rebuilder) ApplyDelta(ctx context.Context, d *Delta, maxSize int64) (err error) {
	select {
	case <-d.hdrReady:
	case <-ctx.Done():
		return ctx.Err()
	}
	if d.hdrErr != nil {
		return fmt.Errorf("page delta: %w", d.hdrErr)
	}
	hdr := d.hdr
	size := int64(hdr.Commit) * int64(hdr.PageSize)
	if size > maxSize || hdr.Commit == 0 {
		return fmt.Errorf("page delta: it makes a database of %d pages of %d bytes, more than the %d bytes expected", hdr.Commit, hdr.PageSize, maxSize)
	}
	if !rb.known || rb.pageSize != hdr.PageSize {
		if _, err := rb.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if rb.sum, rb.pages, err = checksum(ctx, rb.f, hdr.PageSize); err != nil {
			return fmt.Errorf("page delta: read its base: %w", err)
		}
		rb.known, rb.pageSize = true, hdr.PageSize
	}
	if rb.sum != hdr.PreApplyChecksum {
		return fmt.Errorf("page delta: %w: the base is not the database it was made on (checksum %s, it needs %s)", ErrWrongBase, rb.sum, hdr.PreApplyChecksum)
	}
	// From here f changes: until the delta is whole, nothing is known of it.
	rb.known = false
	sum, pages := rb.sum, rb.pages
	lock := ltx.LockPgno(hdr.PageSize)
	ps := int(hdr.PageSize)
	old := make([]byte, ps)
	next := uint32(pages) + 1 // the next page past the base's end, which growth must write

	// The pages are decoded (read, LZ4, the file's checksum and each
	// page's) on the delta's goroutine, ahead, while this one checks them,
	// sums the pages they replace and writes them.
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, ok := d.next()
		if !ok {
			break
		}
		w := runWriter{f: rb.f, ps: ps}
		for i, pgno := range b.pgnos[:b.n] {
			if pgno > hdr.Commit {
				return fmt.Errorf("page delta: %w: page %d past its size of %d pages", ltx.ErrInvalidFile, pgno, hdr.Commit)
			}
			if int64(pgno) <= pages {
				// The run not yet written holds none of the pages read:
				// the reader refuses pages that do not ascend.
				if _, err := rb.f.ReadAt(old, int64(pgno-1)*int64(ps)); err != nil {
					return fmt.Errorf("page delta: read page %d: %w", pgno, err)
				}
				sum ^= PageChecksum(pgno, old)
			} else {
				if next == lock {
					next++
				}
				if pgno != next {
					// A database grows by the pages written past its end: a
					// gap would be pages nobody wrote.
					return fmt.Errorf("page delta: %w: it writes page %d past the base's %d pages, not page %d", ltx.ErrInvalidFile, pgno, pages, next)
				}
				next++
			}
			if err := w.add(b, i); err != nil {
				return err
			}
			sum ^= b.sums[i]
		}
		if err := w.flush(); err != nil {
			return err
		}
		d.done(b)
	}
	if d.failure != nil {
		return fmt.Errorf("page delta: %w", d.failure)
	}
	if int64(hdr.Commit) > max(pages, int64(next)-1) {
		return fmt.Errorf("page delta: %w: it makes %d pages of a base of %d, and writes none past page %d", ltx.ErrInvalidFile, hdr.Commit, pages, next-1)
	}
	// The pages cut off leave the checksum. (Each page's checksum carries
	// ChecksumFlag, which the XORs toggle: it is set again at the end, as
	// LTX's rolling checksum does.)
	for pgno := int64(hdr.Commit) + 1; pgno <= pages; pgno++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if uint32(pgno) == lock {
			continue
		}
		if _, err := rb.f.ReadAt(old, (pgno-1)*int64(hdr.PageSize)); err != nil {
			return fmt.Errorf("page delta: read page %d: %w", pgno, err)
		}
		sum ^= PageChecksum(uint32(pgno), old)
	}
	sum |= ltx.ChecksumFlag
	if err := rb.f.Truncate(size); err != nil {
		return fmt.Errorf("page delta: %w", err)
	}
	if sum != d.trailer.PostApplyChecksum {
		return fmt.Errorf("page delta: %w: the rebuilt database has checksum %s, the delta says %s", ltx.ErrChecksumMismatch, sum, d.trailer.PostApplyChecksum)
	}
	rb.known, rb.sum, rb.pages = true, sum, int64(hdr.Commit)
	return nil
}

// runWriter writes a batch's pages to f, one write per run of pages
// with consecutive numbers (a database grows by runs of new pages).
type runWriter struct {
	f      File
	ps     int
	b      *pageBatch
	i0, i1 int // the run is b's pages [i0, i1)
}

// add adds page i of b to the run, writing the run first when the page
// does not extend it.
func (w *runWriter) add(b *pageBatch, i int) error {
	if w.i1 > w.i0 && b == w.b && i == w.i1 && b.pgnos[i] == b.pgnos[w.i0]+uint32(i-w.i0) {
		w.i1++
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	w.b, w.i0, w.i1 = b, i, i+1
	return nil
}

func (w *runWriter) flush() error {
	if w.i1 == w.i0 {
		return nil
	}
	first := w.b.pgnos[w.i0]
	if _, err := w.f.WriteAt(w.b.data[w.i0*w.ps:w.i1*w.ps], int64(first-1)*int64(w.ps)); err != nil {
		return fmt.Errorf("page delta: write pages %d-%d: %w", first, first+uint32(w.i1-w.i0)-1, err)
	}
	w.i0, w.i1 = 0, 0
	return nil
}

// checksum is LTX's checksum of the database read from r, and its size in
// pages: a file that is not a whole number of pages is not a database of
// that page size.
func checksum(ctx context.Context, r io.Reader, pageSize uint32) (ltx.Checksum, int64, error) {
	cr := &countingReader{r: ctxio.NewReader(ctx, r)}
	sum, err := checksumPages(bufio.NewReaderSize(cr, 1<<20), int(pageSize))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, 0, fmt.Errorf("its size is not a multiple of its %d-byte pages", pageSize)
	}
	return sum, cr.n / int64(pageSize), err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ErrWrongBase is matched by errors.Is when a delta is applied to another
// database than the one it was made on.
var ErrWrongBase = errors.New("wrong base")

// summer computes one database's LTX checksum and the SHA-256 of its
// pages in order, on a goroutine of its own, from batches of copied pages.
type summer struct {
	size  uint32
	lock  uint32
	batch *batch
	full  chan *batch
	free  chan *batch
	done  chan struct{}
	sum   ltx.Checksum
	sha   hash.Hash
	ended bool
}

// batch is some consecutive pages of one database.
type batch struct {
	first uint32
	n     int
	data  []byte
}

const batchPages = 64

func startSummer(pageSize uint32) *summer {
	s := &summer{size: pageSize, lock: ltx.LockPgno(pageSize), full: make(chan *batch, 2), free: make(chan *batch, 3),
		done: make(chan struct{}), sum: ltx.ChecksumFlag, sha: sha256.New()}
	for range 3 {
		s.free <- &batch{data: make([]byte, batchPages*int(pageSize))}
	}
	go func() {
		defer close(s.done)
		for b := range s.full {
			s.sha.Write(b.data[:b.n*int(s.size)])
			for i := range b.n {
				pgno := b.first + uint32(i)
				if pgno != s.lock {
					page := b.data[i*int(s.size) : (i+1)*int(s.size)]
					s.sum = ltx.ChecksumFlag | (s.sum ^ PageChecksum(pgno, page))
				}
			}
			s.free <- b
		}
	}()
	return s
}

// add copies page pgno, the one after the previous, into the batch.
func (s *summer) add(pgno uint32, data []byte) {
	if s.batch == nil {
		s.batch = <-s.free
		s.batch.first, s.batch.n = pgno, 0
	}
	copy(s.batch.data[s.batch.n*int(s.size):], data)
	s.batch.n++
	if s.batch.n == batchPages {
		s.full <- s.batch
		s.batch = nil
	}
}

// wait ends the sums and returns them; it may be called again.
func (s *summer) wait() (ltx.Checksum, string) {
	if !s.ended {
		s.ended = true
		if s.batch != nil {
			s.full <- s.batch
			s.batch = nil
		}
		close(s.full)
		<-s.done
	}
	return s.sum, hex.EncodeToString(s.sha.Sum(nil))
}
