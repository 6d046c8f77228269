package replica

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/afero"
	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// The layout of replication in a backup directory (docs/formats.md,
// "Replication"):
//
//	replica/<BASE>/<CHAIN>/chain.json       what the chain is: its base snapshot, page size, start
//	replica/<BASE>/<CHAIN>/alive.json       the last tick that saw the database (time, TXID)
//	replica/<BASE>/<CHAIN>/L0/<min>-<max>.ltx   one LTX file per tick that found a change
//	replica/<BASE>/<CHAIN>/L1/...           one per minute, the L0 files of that minute compacted
//	replica/<BASE>/<CHAIN>/L2/...           one per hour, its L1 files compacted
//
// BASE is the stamp of the snapshot whose database is TXID 1 of the chain;
// CHAIN is the chain's start, to the millisecond. Each replicate process
// writes a chain of its own. LTX files are plain (like the snapshots of
// the same directory) and standard: `ltx apply` rebuilds the database
// from the snapshot's copy.
const (
	chainFile     = "chain.json"
	aliveFile     = "alive.json"
	chainIDFormat = "20060102T150405.000Z"
)

// levels are the directories of the compaction levels, finest first, and
// the span each file of a level covers.
var levels = []struct {
	dir  string
	span time.Duration
}{{"L0", 0}, {"L1", time.Minute}, {"L2", time.Hour}}

// chainMeta is chain.json.
type chainMeta struct {
	FormatVersion int    `json:"format_version"`
	Base          string `json:"base"`
	Chain         string `json:"chain"`
	StartedAt     string `json:"started_at"`
	PageSize      uint32 `json:"page_size"`
	// BaseChecksum is the LTX checksum of the base snapshot's database:
	// the pre-apply checksum of TXID 2.
	BaseChecksum string `json:"base_checksum"`
	// BaseSHA256 is the SHA-256 of the base's database whose checksum
	// BaseChecksum is (its manifest's digest): a restore whose staged
	// copy has that digest need not read it again for the checksum.
	BaseSHA256 string `json:"base_sha256,omitempty"`
	Host       string `json:"host,omitempty"`
	// From, in a chain copied from a target, is its first segment's time
	// (the copy may not hold that segment itself).
	From time.Time `json:"from,omitzero"`
}

// alive is alive.json: written at every tick, without fsync (a stale one
// only makes the known window shorter).
type alive struct {
	Time time.Time `json:"time"`
	TXID uint64    `json:"txid"`
}

// Dir is the directory of replication in a backup directory.
func Dir(backupDir string) string { return filepath.Join(backupDir, snapshot.ReplicaDir) }

// chainDir is where the chain id on base lives.
func chainDir(backupDir, base, id string) string {
	return filepath.Join(Dir(backupDir), base, id)
}

// createChain makes the directory of a new chain and its chain.json.
// The base directory replica/<BASE> is made only while the base snapshot
// exists.
func createChain(backupDir string, m chainMeta) (string, error) {
	dir := chainDir(backupDir, m.Base, m.Chain)
	if _, err := os.Stat(snapshot.Dir(backupDir, m.Base)); err != nil {
		return "", fmt.Errorf("start a chain on snapshot %s: %w", m.Base, err)
	}
	for _, d := range []string{Dir(backupDir), filepath.Dir(dir)} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("start a chain: %w", err)
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("start a chain: %w", err)
	}
	for _, l := range levels {
		if err := os.Mkdir(filepath.Join(dir, l.dir), 0o700); err != nil {
			return "", fmt.Errorf("start a chain: %w", err)
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	if err := durable.WriteFile(afero.NewOsFs(), filepath.Join(dir, chainFile), append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("start a chain: %w", err)
	}
	for _, d := range []string{dir, filepath.Dir(dir), Dir(backupDir)} {
		if err := durable.SyncDir(afero.NewOsFs(), d); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// writeAlive records the tick at t; errors are the caller's to report.
func writeAlive(dir string, a alive) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	tmp := durable.TempName(filepath.Join(dir, aliveFile), "tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, aliveFile)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// segment writes one LTX file into a level directory under a temporary
// name, and puts it in place once whole and synced.
type segment struct {
	dir      string
	txid     ltx.TXID
	pageSize uint32
	tmp      string
	f        *os.File
	w        *bufio.Writer
	enc      *ltx.Encoder
	began    bool
}

func newSegment(dir string, txid ltx.TXID, pageSize uint32) *segment {
	return &segment{dir: dir, txid: txid, pageSize: pageSize}
}

func (s *segment) begin(commit uint32, at time.Time, pre uint64) error {
	if _, err := os.Stat(s.dir); err != nil {
		return fmt.Errorf("%w: %v", errChainGone, err)
	}
	s.tmp = filepath.Join(s.dir, fmt.Sprintf(".%s.tmp", ltx.FormatFilename(s.txid, s.txid)))
	f, err := os.OpenFile(s.tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write segment %d: %w", s.txid, err)
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 1<<16)
	if s.enc, err = ltx.NewEncoder(s.w); err != nil {
		return err
	}
	s.began = true
	return s.enc.EncodeHeader(ltx.Header{Version: ltx.Version, PageSize: s.pageSize, Commit: commit,
		MinTXID: s.txid, MaxTXID: s.txid, Timestamp: ceilMilli(at), PreApplyChecksum: ltx.Checksum(pre)})
}

func (s *segment) page(pgno uint32, data []byte) error {
	return s.enc.EncodePage(ltx.PageHeader{Pgno: pgno}, data)
}

// syncSegments is off only in the benchmark that replays a day of ticks
// in minutes: what it measures is the restore.
var syncSegments = true

// errChainGone is a chain whose directory was removed (its base was pruned).
var errChainGone = errors.New("the chain's directory is gone")

// finish closes the file with its post-apply checksum, syncs it and
// renames it into place; it returns the file's size.
func (s *segment) finish(post ltx.Checksum) (int64, error) {
	s.enc.SetPostApplyChecksum(post)
	err := s.enc.Close()
	if err == nil {
		err = s.w.Flush()
	}
	if err == nil && syncSegments {
		err = s.f.Sync()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err == nil {
		err = os.Rename(s.tmp, filepath.Join(s.dir, ltx.FormatFilename(s.txid, s.txid)))
	}
	if err == nil && syncSegments {
		err = durable.SyncDir(afero.NewOsFs(), s.dir)
	}
	if err != nil {
		s.abort()
		return 0, fmt.Errorf("write segment %d: %w", s.txid, err)
	}
	return s.enc.N(), nil
}

func (s *segment) abort() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.tmp != "" {
		os.Remove(s.tmp)
	}
}

// file is one LTX file of a chain.
type file struct {
	level    int
	min, max ltx.TXID
	path     string
}

// listLevel returns a level's LTX files by TXID range; temporary names
// and anything else are ignored.
func listLevel(chain string, level int) ([]file, error) {
	entries, err := os.ReadDir(filepath.Join(chain, levels[level].dir))
	if err != nil {
		return nil, err
	}
	var out []file
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".ltx") {
			continue
		}
		lo, hi, err := ltx.ParseFilename(e.Name())
		if err != nil || lo > hi {
			continue
		}
		out = append(out, file{level: level, min: lo, max: hi, path: filepath.Join(chain, levels[level].dir, e.Name())})
	}
	slices.SortFunc(out, func(a, b file) int { return int(a.min) - int(b.min) })
	return out, nil
}

// readHeader reads an LTX file's header.
func readHeader(path string) (ltx.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return ltx.Header{}, err
	}
	defer f.Close()
	b := make([]byte, ltx.HeaderSize)
	if _, err := io.ReadFull(f, b); err != nil {
		return ltx.Header{}, fmt.Errorf("read %s: %w", path, err)
	}
	var h ltx.Header
	if err := h.UnmarshalBinary(b); err != nil {
		return ltx.Header{}, fmt.Errorf("read %s: %w", path, err)
	}
	if err := h.Validate(); err != nil {
		return ltx.Header{}, fmt.Errorf("read %s: %w", path, err)
	}
	return h, nil
}

// readChainMeta reads and checks chain.json.
func readChainMeta(dir string) (chainMeta, error) {
	b, err := durable.ReadFileNoLinks(afero.NewOsFs(), dir, chainFile, 1<<16)
	if err != nil {
		return chainMeta{}, err
	}
	var m chainMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return chainMeta{}, fmt.Errorf("%s: %w", filepath.Join(dir, chainFile), err)
	}
	if m.FormatVersion != 1 || m.Base != filepath.Base(filepath.Dir(dir)) || m.Chain != filepath.Base(dir) {
		return chainMeta{}, fmt.Errorf("%s does not describe the chain it is in", filepath.Join(dir, chainFile))
	}
	if _, err := snapshot.ParseStamp(m.Base); err != nil {
		return chainMeta{}, fmt.Errorf("%s: %w", filepath.Join(dir, chainFile), err)
	}
	return m, nil
}

func readAlive(dir string) (alive, bool) {
	b, err := durable.ReadFileNoLinks(afero.NewOsFs(), dir, aliveFile, 1<<12)
	if err != nil {
		return alive{}, false
	}
	var a alive
	if json.Unmarshal(b, &a) != nil || a.Time.IsZero() {
		return alive{}, false
	}
	return a, true
}

// ceilMilli is t in milliseconds since the epoch, rounded up: LTX keeps
// milliseconds, and a segment must never claim a time before the moment
// it saw the database (a restore to that time would then hold commits
// made after it).
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
