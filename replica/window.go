package replica

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Window is the stretch of time one chain can restore to: from its first
// segment (the base snapshot plus every change up to then) to its last
// tick. Every second inside it is a point `restore --at` can give.
type Window struct {
	Base  string `json:"base"`
	Chain string `json:"chain"`
	Dir   string `json:"dir"`
	// From is the time of the chain's first segment; To the last tick
	// known (alive.json), or the last segment's time when that is later.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	TXID uint64    `json:"txid"` // the chain's last segment
	// Files counts the chain's LTX files per level (L0, L1, L2), Bytes
	// their size: from Windows (a Plan's window leaves them zero).
	Files [3]int `json:"files"`
	Bytes int64  `json:"bytes"`
	// BaseMissing is set when the base snapshot is gone: the chain cannot
	// be restored from.
	BaseMissing bool `json:"base_missing,omitempty"`
}

// Windows lists the replication chains of a backup directory, oldest
// first. A chain with no segment yet, or whose chain.json is unreadable,
// is not listed.
func Windows(ctx context.Context, backupDir string) ([]Window, error) {
	cs, err := listChains(ctx, backupDir, true)
	if err != nil {
		return nil, err
	}
	out := make([]Window, len(cs))
	for i, c := range cs {
		out[i] = c.Window
	}
	return out, nil
}

// chainFiles is one chain's window and its LTX files, level by level.
// A light listing (listChains without sizes) leaves L0 unlisted: a day of
// ticks is 86,400 files, of which a restore needs at most a minute's.
type chainFiles struct {
	Window
	files   [3][]file
	l0Light bool
}

// listChains reads every chain's window, oldest first. With sizes it
// lists every file and sums their bytes (a stat each); without, for a
// restore, it finds L0's first and last files by name (ChainFilesAfter's
// rule) and counts no files.
func listChains(ctx context.Context, backupDir string, sizes bool) ([]chainFiles, error) {
	bases, err := os.ReadDir(Dir(backupDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", Dir(backupDir), err)
	}
	var out []chainFiles
	for _, b := range bases {
		if _, err := snapshot.ParseStamp(b.Name()); err != nil || !b.IsDir() {
			continue
		}
		chains, err := os.ReadDir(filepath.Join(Dir(backupDir), b.Name()))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", filepath.Join(Dir(backupDir), b.Name()), err)
		}
		for _, c := range chains {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if !c.IsDir() {
				continue
			}
			w, ok, err := window(backupDir, b.Name(), c.Name(), sizes)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, w)
			}
		}
	}
	slices.SortFunc(out, func(a, b chainFiles) int { return a.From.Compare(b.From) })
	return out, nil
}

// window reads one chain's window: from its first segment (TXID 2) to
// its last tick. A chain copied from a target may hold only the files a
// restore needs (chain.json then gives the first segment's time).
func window(backupDir, base, id string, sizes bool) (chainFiles, bool, error) {
	dir := chainDir(backupDir, base, id)
	_, baseErr := os.Stat(filepath.Join(snapshot.Dir(backupDir, base), snapshot.ManifestFile))
	var stamp chainStamp
	if sizes {
		stamp = chainStampOf(dir)
		if w, ok := quietChains.get(dir, stamp); ok {
			w.BaseMissing = baseErr != nil
			return chainFiles{Window: w}, true, nil
		}
	}
	meta, err := readChainMeta(dir)
	if err != nil {
		return chainFiles{}, false, nil
	}
	c := chainFiles{Window: Window{Base: base, Chain: id, Dir: dir}}
	w := &c.Window
	w.BaseMissing = baseErr != nil
	var first, last *file
	for level := range levels {
		if level == 0 && !sizes && lightL0 {
			if f, l, ok := l0Ends(dir); ok {
				c.l0Light, first, last = true, f, l
				continue
			}
		}
		files, err := listLevel(dir, level)
		if err != nil {
			return chainFiles{}, false, nil
		}
		c.files[level] = files
		if sizes {
			w.Files[level] = len(files)
		}
		for i := range files {
			f := &files[i]
			if sizes {
				if fi, err := os.Stat(f.path); err == nil {
					w.Bytes += fi.Size()
				}
			}
			if f.min == 2 && level == 0 {
				first = f
			}
			if last == nil || f.max > last.max {
				last = f
			}
		}
	}
	if last == nil {
		return chainFiles{}, false, nil
	}
	switch {
	case first != nil:
		h, err := readHeader(first.path)
		if err != nil {
			return chainFiles{}, false, nil
		}
		w.From = time.UnixMilli(h.Timestamp).UTC()
	case !meta.From.IsZero():
		w.From = meta.From.UTC()
	default:
		return chainFiles{}, false, nil
	}
	h, err := readHeader(last.path)
	if err != nil {
		return chainFiles{}, false, nil
	}
	w.To, w.TXID = time.UnixMilli(h.Timestamp).UTC(), uint64(last.max)
	if a, ok := readAlive(dir); ok && a.Time.After(w.To) && a.TXID == uint64(last.max) {
		w.To = a.Time.UTC()
	}
	if sizes {
		quietChains.put(dir, stamp, *w)
	}
	return c, true, nil
}

// quietChains keeps the windows of chains that nothing has written for a
// while: a week of chains is 600,000 files, and Windows runs at every
// metrics scrape. A chain's entry holds while the modification times of
// its directory and of its level directories are those it was read with,
// and is kept only when all of them were already two seconds old then
// (a change after that moves one of them, whatever the clock's grain).
// The chain being replicated changes every tick and is never kept.
var quietChains = chainCache{m: map[string]cachedWindow{}}

// chainStamp is the modification times of a chain's directory and of its
// level directories; ok is false when one could not be read.
type chainStamp struct {
	mtimes [1 + 3]int64
	ok     bool
}

func chainStampOf(dir string) chainStamp {
	st := chainStamp{ok: true}
	quiet := time.Now().Add(-2 * time.Second).UnixNano()
	for i, d := range []string{dir, filepath.Join(dir, levels[0].dir), filepath.Join(dir, levels[1].dir), filepath.Join(dir, levels[2].dir)} {
		fi, err := os.Stat(d)
		if err != nil || fi.ModTime().UnixNano() > quiet {
			return chainStamp{}
		}
		st.mtimes[i] = fi.ModTime().UnixNano()
	}
	return st
}

type cachedWindow struct {
	stamp chainStamp
	w     Window
}

type chainCache struct {
	mu sync.Mutex
	m  map[string]cachedWindow
}

func (c *chainCache) get(dir string, st chainStamp) (Window, bool) {
	if !st.ok {
		return Window{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[dir]
	if !ok || e.stamp != st {
		return Window{}, false
	}
	return e.w, true
}

// put keeps w for dir; a chain whose stamp is not quiet is forgotten.
// The cache forgets everything past maxCachedChains (chains are pruned
// with their base snapshots, a few a day).
func (c *chainCache) put(dir string, st chainStamp, w Window) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !st.ok {
		delete(c.m, dir)
		return
	}
	if len(c.m) >= maxCachedChains {
		clear(c.m)
	}
	c.m[dir] = cachedWindow{stamp: st, w: w}
}

const maxCachedChains = 1024

// lightL0 lets listChains find L0's ends by name; tests turn it off to
// compare with the whole listing.
var lightL0 = true

// l0Ends finds L0's first file (TXID 2, nil when a chain copied from a
// target lacks it) and its last (the TXID alive.json names, or a later
// one) by their names, as the ticks write them; ok is false when the
// last is not there by that name (L0 must then be listed).
func l0Ends(dir string) (first, last *file, ok bool) {
	a, ok := readAlive(dir)
	if !ok || a.TXID < 2 {
		return nil, nil, false
	}
	// alive.json's own tick, and any after it: a tick that was stopped
	// between its segment and alive.json left one more segment than
	// alive.json says.
	ticks, complete := ticksFrom(dir, ltx.TXID(a.TXID))
	if len(ticks) == 0 || !complete {
		return nil, nil, false
	}
	return tickFile(dir, 2), &ticks[len(ticks)-1], true
}

// Plan is how to rebuild the database as it was at a time: the base
// snapshot's database, then Files applied in order.
type Plan struct {
	Window Window
	At     time.Time // the time asked for
	// Seen is the time of the last segment applied: the database is as
	// the replicator saw it then, and nothing changed from then to At.
	Seen  time.Time
	TXID  uint64
	Files []string
	// baseSum and baseSHA256 are the chain's record of its base.
	baseSum    string
	baseSHA256 string
	pageSize   uint32
}

// ErrOutsideWindow is matched by errors.Is when no chain covers the
// time asked for.
var ErrOutsideWindow = errors.New("the time is outside the replication window")

// PlanAt picks the chain that covers at (the one that started last, so
// that the fewest changes are replayed) and the files that rebuild the
// database as it was then: whole hours from L2, whole minutes from L1,
// then single ticks from L0, each applied only when its time is at or
// before at.
func PlanAt(ctx context.Context, backupDir string, at time.Time) (*Plan, error) {
	cs, err := listChains(ctx, backupDir, false)
	if err != nil {
		return nil, err
	}
	var pick *chainFiles
	for i := range cs {
		c := &cs[i]
		if c.BaseMissing || at.Before(c.From) || at.After(c.To) {
			continue
		}
		if pick == nil || c.From.After(pick.From) {
			pick = c
		}
	}
	if pick == nil {
		return nil, outside(at, cs)
	}
	p := &Plan{Window: pick.Window, At: at, TXID: 1}
	if m, err := readChainMeta(pick.Dir); err == nil {
		p.baseSum, p.baseSHA256, p.pageSize = m.BaseChecksum, m.BaseSHA256, m.PageSize
	}
	cur := ltx.TXID(1)
	for level := len(levels) - 1; level >= 0; level-- {
		files := pick.files[level]
		if level == 0 && pick.l0Light {
			// Only the ticks past what the coarser levels gave are needed.
			if files, err = levelAfter(pick.Dir, 0, uint64(cur)); err != nil {
				return nil, err
			}
		}
		byMin := make(map[ltx.TXID]file, len(files))
		for _, f := range files {
			byMin[f.min] = f
		}
		for {
			f, ok := byMin[cur+1]
			if !ok {
				break
			}
			h, err := readHeader(f.path)
			if err != nil {
				return nil, err
			}
			if time.UnixMilli(h.Timestamp).After(at) {
				break
			}
			p.Files = append(p.Files, f.path)
			p.Seen = time.UnixMilli(h.Timestamp).UTC()
			cur = f.max
		}
	}
	if len(p.Files) == 0 {
		return nil, outside(at, cs)
	}
	p.TXID = uint64(cur)
	return p, nil
}

// outside is the error for a time none of the chains covers.
func outside(at time.Time, cs []chainFiles) *OutsideError {
	e := &OutsideError{At: at}
	for _, c := range cs {
		e.Windows = append(e.Windows, c.Window)
	}
	return e
}

// OutsideError is a time no chain covers; it lists the windows there are.
type OutsideError struct {
	At      time.Time
	Windows []Window
}

func (e *OutsideError) Error() string {
	if len(e.Windows) == 0 {
		return fmt.Sprintf("%s: %s: the backup directory holds no replication (run replicate)", e.At.UTC().Format(time.RFC3339), ErrOutsideWindow)
	}
	msg := fmt.Sprintf("%s: %s; the windows are", e.At.UTC().Format(time.RFC3339), ErrOutsideWindow)
	for i, w := range e.Windows {
		if i > 0 {
			msg += ","
		}
		msg += fmt.Sprintf(" %s to %s", w.From.Format(time.RFC3339), w.To.Format(time.RFC3339))
		if w.BaseMissing {
			msg += " (base snapshot " + w.Base + " gone)"
		}
	}
	return msg
}

func (e *OutsideError) Unwrap() error { return ErrOutsideWindow }
