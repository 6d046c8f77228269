package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/pagedelta"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// DefaultDeltaChain is how many page deltas a push lets follow one whole
// copy of the database on a target before it sends the whole file again:
// a pull reads the whole copy and at most this many deltas. (A week of
// daily pushes.)
const DefaultDeltaChain = 7

// deltaWorth is the most a delta may weigh, as a fraction of its file,
// for it to be sent instead of the file: past it, the whole file is sent
// and a new chain starts.
const deltaWorth = 0.5

// DeltaInfo says what a push sent as a page delta (see PushOptions.DeltaChain).
type DeltaInfo struct {
	// Path is the snapshot's file ("db/atocore.db").
	Path string `json:"path"`
	// Base is the snapshot on the target whose copy of the file the
	// delta applies to.
	Base string `json:"base"`
	// Depth is the delta's place in its chain: 1 on a whole copy.
	Depth        int    `json:"depth"`
	Pages        uint32 `json:"pages"`
	ChangedPages uint32 `json:"changed_pages"`
	// Bytes is the size of the delta before encryption.
	Bytes int64 `json:"bytes"`
}

// deltaSend is a file of a snapshot that a push sends as a page delta.
type deltaSend struct {
	rel   string   // its name on the target
	src   string   // the delta, in the local backup directory
	plain string   // the delta's SHA-256
	bases []string // the chain it is on: its base first
	info  DeltaInfo
}

// deltaFile reports whether a snapshot's file may go as a page delta:
// the database. (Chroma's files change whole or not at all, and its
// chroma.sqlite3 is small beside the segments.)
func deltaFile(f snapshot.File) bool { return f.Path == snapshot.DBFile && f.SHA256 != "" }

// chainLimit is the number of deltas a push lets follow a whole copy; 0
// means none.
func (o PushOptions) chainLimit() int {
	switch {
	case o.DeltaChain < 0:
		return 0
	case o.DeltaChain == 0:
		return DefaultDeltaChain
	}
	return o.DeltaChain
}

// heldAs is the name under which the previous pushed snapshot prev holds
// the plaintext of f (by digest), for the snapshot stamp: its whole copy,
// or a delta of the same file on a snapshot older than stamp. "" when
// prev does not hold it so.
func heldAs(prev *stateEntry, f snapshot.File, stamp string) string {
	if prev == nil || f.SHA256 == "" {
		return ""
	}
	old, ok := prev.Files[f.SHA256]
	if !ok || fileOf(old.Path) != f.Path {
		return ""
	}
	if _, base, ok := pagedelta.Parse(strings.TrimSuffix(old.Path, ".age")); ok && base >= stamp {
		return "" // a refill of an older stamp: its chain cannot go forward in time
	}
	return old.Path
}

// planDelta writes the page delta of the local snapshot s's file f on the
// previous pushed snapshot prev's copy, when that is worth sending: the
// target holds prev's copy (whole or as a delta, within the chain's
// limit), prev is still a local snapshot to compare with, and the delta
// weighs less than deltaWorth of the file. nil means "send the file
// whole". suffix is the session's (".age").
func (p *pusher) planDelta(ctx context.Context, s backup.Snapshot, f snapshot.File, prev *stateEntry, suffix string) (*deltaSend, error) {
	limit := p.opts.chainLimit()
	if prev == nil || p.noLinks || limit == 0 || suffix == "" || !deltaFile(f) || prev.Stamp >= s.Stamp {
		return nil, nil
	}
	baseDir := snapshot.Dir(p.cfg.BackupDir, prev.Stamp)
	data, err := afero.ReadFile(p.cfg.FS, filepath.Join(baseDir, snapshot.ManifestFile))
	if err != nil {
		return nil, nil // pruned here: nothing to compare with
	}
	m, err := snapshot.DecodeManifest(data)
	if err != nil {
		return nil, nil
	}
	old, ok := m.Lookup(f.Path)
	held := heldAs(prev, old, s.Stamp)
	if !ok || held == "" {
		return nil, nil // the target's copy of prev holds another database
	}
	bases := append([]string{prev.Stamp}, prev.Chain[old.SHA256]...)
	depth := len(bases)
	if depth > limit || !p.chainIntact(prev, old.SHA256, held) {
		return nil, nil
	}
	tmp := filepath.Join(p.cfg.BackupDir, stateDir, "delta-"+s.Stamp+".ltx")
	if err := p.cfg.FS.MkdirAll(filepath.Dir(tmp), 0o700); err != nil {
		return nil, err
	}
	out, err := p.cfg.FS.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	// Past its worth the delta stops being written: the file goes whole.
	w := &capped{w: io.MultiWriter(out, h), left: int64(deltaWorth * float64(f.Size))}
	created := snapshot.Metadata{Stamp: s.Stamp}
	if s.Metadata != nil {
		created = *s.Metadata
	}
	st, err := pagedelta.Write(ctx, p.cfg.FS, filepath.Join(baseDir, filepath.FromSlash(old.Path)),
		filepath.Join(s.Path, filepath.FromSlash(f.Path)),
		pagedelta.Header{TXID: uint64(depth) + 1, Time: created.Time()}, w)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && (st.BaseSHA256 != old.SHA256 || st.SHA256 != f.SHA256) {
		// The pages read are not the manifests' files: a delta made of
		// them would rebuild another database than the snapshot's.
		err = fmt.Errorf("the local snapshots' databases do not match their manifests (run atocore-backup validate %s %s)", prev.Stamp, s.Stamp)
	}
	if err == nil && w.left < 0 {
		err = errNotWorth
	}
	if err != nil {
		_ = p.cfg.FS.Remove(tmp)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, errNotWorth) {
			p.cfg.Logger.Debug("no page delta: it weighs more than half the file", "stamp", s.Stamp, "file", f.Path)
		} else {
			p.cfg.Logger.Warn("no page delta, sending the whole file", "stamp", s.Stamp, "file", f.Path, "err", err)
		}
		return nil, nil
	}
	return &deltaSend{
		rel: pagedelta.Name(f.Path, prev.Stamp) + suffix, src: tmp, plain: hex.EncodeToString(h.Sum(nil)), bases: bases,
		info: DeltaInfo{Path: f.Path, Base: prev.Stamp, Depth: depth, Pages: st.Pages, ChangedPages: st.Changed, Bytes: st.Bytes},
	}, nil
}

var errNotWorth = errors.New("the delta weighs more than the file's limit")

// deltaBases lists the snapshots that the files named (a snapshot's, on a
// target) are page deltas on: they must stay on the target as long as it
// does.
func deltaBases(names []string) []string {
	var out []string
	for _, n := range names {
		if _, base, ok := pagedelta.Parse(strings.TrimSuffix(n, ".age")); ok && snapshot.IsStamp(base) {
			out = append(out, base)
		}
	}
	return out
}

// errDeltaChain is the refusal of a chain of deltas that does not end
// in a whole copy within maxChainRead links, or goes forward in time.
var errDeltaChain = errors.New("its chain of page deltas does not end in a whole copy")

// maxChainRead bounds the deltas a pull follows, whatever the target says.
const maxChainRead = 64

// chainOf is the chain of the copy of f that a push recorded under the
// name rel: that of the delta it sent (d), that of the previous pushed
// snapshot's delta it linked or copied (the same chain), or nil for a
// whole copy.
func chainOf(prev *stateEntry, d *deltaSend, f snapshot.File, rel string) []string {
	if d != nil && d.rel == rel {
		return d.bases
	}
	if _, _, ok := pagedelta.Parse(strings.TrimSuffix(rel, ".age")); ok && prev != nil {
		return prev.Chain[f.SHA256]
	}
	return nil
}

// fileOf is the snapshot's file that a name on the target holds: the name
// without ".age" and, for a page delta, without its base.
func fileOf(name string) string {
	name = strings.TrimSuffix(name, ".age")
	if rel, _, ok := pagedelta.Parse(name); ok {
		return rel
	}
	return name
}

// capped passes writes on until left bytes are written, then fails them
// with errNotWorth.
type capped struct {
	w    io.Writer
	left int64
}

func (c *capped) Write(p []byte) (int, error) {
	if c.left -= int64(len(p)); c.left < 0 {
		return 0, errNotWorth
	}
	return c.w.Write(p)
}

// chainIntact reports whether the target still holds every snapshot that
// the previous pushed snapshot's copy of a file (plaintext digest, held
// under the name held) is rebuilt from, as this machine's push state
// recorded its chain: a delta on a chain that lost a link would push a
// snapshot nobody can restore.
func (p *pusher) chainIntact(prev *stateEntry, digest, held string) bool {
	_, base, isDelta := pagedelta.Parse(strings.TrimSuffix(held, ".age"))
	chain := prev.Chain[digest]
	switch {
	case !isDelta:
		return true // a whole copy: the chain's start
	case len(chain) == 0 || chain[0] != base:
		return false // a chain this machine did not record
	}
	after := prev.Stamp
	for _, b := range chain {
		if b >= after || !baseThere(p.remote.FS, p.remote.Root, b) {
			return false
		}
		after = b
	}
	return true
}

// baseThere reports whether the target holds the snapshot stamp as a
// snapshot: its directory and its statement (a prune removes the
// statement first; every push that makes deltas writes one).
func baseThere(rfs afero.Fs, root, stamp string) bool {
	dir := snapshot.Dir(root, stamp)
	fi, err := rfs.Stat(dir)
	return err == nil && fi.IsDir() && hasStatement(rfs, dir)
}

// cleanDeltas removes the page deltas a push cut off left in the local
// push state (under the lock: no other push is writing one).
func cleanDeltas(fsys afero.Fs, backupDir string) {
	dir := filepath.Join(backupDir, stateDir)
	entries, err := afero.ReadDir(fsys, dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "delta-") && strings.HasSuffix(e.Name(), ".ltx") && e.Mode().IsRegular() {
			_ = fsys.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// baseGone names the first snapshot that the files named (a snapshot's,
// on the target) are page deltas on and that the target no longer holds;
// "" when every one is there.
func baseGone(rfs afero.Fs, root string, names []string) string {
	for _, b := range deltaBases(names) {
		if !baseThere(rfs, root, b) {
			return b
		}
	}
	return ""
}

// paths are the names of files.
func paths(files []snapshot.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}
