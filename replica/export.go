package replica

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"
	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/ctxio"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// What the off-site side (package offsite) needs of a chain: its
// description, its files, and a way to lay a chain down from a target.

// ChainInfo describes a chain (chain.json).
type ChainInfo struct {
	Base         string    `json:"base"`
	Chain        string    `json:"chain"`
	StartedAt    time.Time `json:"started_at"`
	PageSize     uint32    `json:"page_size"`
	BaseChecksum string    `json:"base_checksum"`
	BaseSHA256   string    `json:"base_sha256,omitempty"`
	// From is the time of the chain's first segment, when the chain was
	// copied from a target without it (zero: read it from that segment).
	From time.Time `json:"from,omitempty"`
}

// ReadChain reads the chain in dir.
func ReadChain(dir string) (ChainInfo, error) {
	m, err := readChainMeta(dir)
	if err != nil {
		return ChainInfo{}, err
	}
	started, _ := time.Parse(time.RFC3339Nano, m.StartedAt)
	return ChainInfo{Base: m.Base, Chain: m.Chain, StartedAt: started, PageSize: m.PageSize, BaseChecksum: m.BaseChecksum, BaseSHA256: m.BaseSHA256, From: m.From}, nil
}

// ChainFile is one LTX file of a chain.
type ChainFile struct {
	Level            int
	Rel              string // "L0/0000000000000002-0000000000000002.ltx"
	Path             string
	MinTXID, MaxTXID uint64
}

// ChainFiles lists a chain's LTX files, level by level (L0 first), each
// in TXID order.
func ChainFiles(dir string) ([]ChainFile, error) {
	return ChainFilesAfter(dir, [3]uint64{})
}

// ChainFilesAfter lists, as ChainFiles does, the files of each level
// whose first TXID is past after[level]: what a shipper has not seen yet
// of a chain it saw up to there (zero: the whole level). A day of ticks
// is 86,400 files in L0, whose listing takes a tenth of a second: as
// long as the next ones are the single-TXID files the ticks write, L0's
// are found by name, and L0 is listed only when they are not.
func ChainFilesAfter(dir string, after [3]uint64) ([]ChainFile, error) {
	var out []ChainFile
	for level := range levels {
		files, err := levelAfter(dir, level, after[level])
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			out = append(out, ChainFile{Level: level, Rel: filepath.ToSlash(filepath.Join(levels[level].dir, filepath.Base(f.path))),
				Path: f.path, MinTXID: uint64(f.min), MaxTXID: uint64(f.max)})
		}
	}
	return out, nil
}

// maxProbes bounds the L0 files found by name at once; past it the
// level is listed.
const maxProbes = 4096

// tickFile is the L0 file of the single TXID txid, as a tick names it;
// nil when there is no such regular file.
func tickFile(dir string, txid ltx.TXID) *file {
	p := filepath.Join(dir, levels[0].dir, ltx.FormatFilename(txid, txid))
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	return &file{level: 0, min: txid, max: txid, path: p}
}

// ticksFrom is the L0 files of the ticks from TXID from on, found by
// name up to the first one missing; complete is false when maxProbes
// of them were found (there may be more).
func ticksFrom(dir string, from ltx.TXID) (out []file, complete bool) {
	for txid := from; len(out) < maxProbes; txid++ {
		f := tickFile(dir, txid)
		if f == nil {
			return out, true
		}
		out = append(out, *f)
	}
	return out, false
}

func levelAfter(dir string, level int, after uint64) ([]file, error) {
	if level == 0 && after > 0 {
		out, complete := ticksFrom(dir, ltx.TXID(after+1))
		// The ticks' alive.json is written after their segment: a TXID it
		// names that no file by name holds is in a file of another shape.
		if a, ok := readAlive(dir); complete && (!ok || a.TXID <= after+uint64(len(out))) {
			return out, nil
		}
	}
	files, err := listLevel(dir, level)
	if err != nil {
		return nil, err
	}
	i := 0
	for i < len(files) && uint64(files[i].min) <= after {
		i++
	}
	return files[i:], nil
}

// FileTime is the time an LTX file's header gives: the moment its last
// tick saw the database.
func FileTime(path string) (time.Time, error) {
	h, err := readHeader(path)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(h.Timestamp).UTC(), nil
}

// LastTick returns the chain's alive.json: the last tick that saw the
// database, and the TXID it left; ok is false when there is none.
func LastTick(dir string) (time.Time, uint64, bool) {
	a, ok := readAlive(dir)
	return a.Time, a.TXID, ok
}

// LevelDirs are the level directories of a chain, finest first.
func LevelDirs() []string {
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = l.dir
	}
	return out
}

// ParseFileName parses an LTX file name of a chain: ok is false for
// anything else.
func ParseFileName(name string) (minTXID, maxTXID uint64, ok bool) {
	lo, hi, err := ltx.ParseFilename(name)
	if err != nil || lo > hi || lo < 2 {
		return 0, 0, false
	}
	return uint64(lo), uint64(hi), true
}

// CopyChain starts a local copy of a chain read from a target: its
// directory, on the local snapshot info.Base, which must exist.
func CopyChain(backupDir string, info ChainInfo) (string, error) {
	dir := chainDir(backupDir, info.Base, info.Chain)
	if _, err := readChainMeta(dir); err == nil {
		return dir, nil // copied before: add to it
	}
	m := chainMeta{FormatVersion: 1, Base: info.Base, Chain: info.Chain, StartedAt: info.StartedAt.UTC().Format(time.RFC3339Nano),
		PageSize: info.PageSize, BaseChecksum: info.BaseChecksum, BaseSHA256: info.BaseSHA256, From: info.From}
	if _, err := snapshot.ParseStamp(info.Base); err != nil {
		return "", err
	}
	if _, err := time.Parse(chainIDFormat, info.Chain); err != nil {
		return "", fmt.Errorf("chain %q: not a chain id", info.Chain)
	}
	return createChain(backupDir, m)
}

// PlaceFile writes an LTX file of a chain copied from a target: r's bytes
// (at most max) under rel ("L1/...ltx"), which must be a chain file name;
// temp name, fsync, rename, fsync the directory. The file must parse as
// LTX with the TXIDs its name says.
func PlaceFile(ctx context.Context, dir, rel string, r io.Reader, max int64) error {
	level := levelOf(filepath.Dir(filepath.Join(dir, filepath.FromSlash(rel))))
	name := filepath.Base(rel)
	lo, hi, ok := ParseFileName(name)
	if level < 0 || !ok || filepath.ToSlash(filepath.Join(levels[level].dir, name)) != rel {
		return fmt.Errorf("%q is not a chain file", rel)
	}
	dst := filepath.Join(dir, levels[level].dir, name)
	tmp := durable.TempName(dst, "tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	n, err := io.Copy(w, io.LimitReader(ctxio.NewReader(ctx, r), max+1))
	if err == nil && n > max {
		err = fmt.Errorf("%s is larger than the %d bytes its statement gives", rel, max)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var h ltx.Header
		if h, err = readHeader(tmp); err == nil && (uint64(h.MinTXID) != lo || uint64(h.MaxTXID) != hi) {
			err = fmt.Errorf("%s holds TXIDs %d-%d", rel, h.MinTXID, h.MaxTXID)
		}
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("place %s: %w", rel, err)
	}
	return durable.SyncDir(afero.NewOsFs(), filepath.Dir(dst))
}

// RecordTick writes the chain's alive.json: its last tick saw the
// database at t, at TXID txid.
func RecordTick(dir string, t time.Time, txid uint64) error {
	return writeAlive(dir, alive{Time: t.UTC(), TXID: txid})
}
