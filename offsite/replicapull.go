package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/replica"
	"github.com/atocore/atocore-backup/target"
)

// RemoteWindow is a chain on a target and the window it covers, as its
// signed alive statement says.
type RemoteWindow struct {
	Base  string    `json:"base"`
	Chain string    `json:"chain"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	TXID  uint64    `json:"txid"`
	// Signer is who signed the statement ("unsigned" when accepted without).
	Signer string `json:"signer"`
}

// ReplicaWindows lists the chains on t whose statements trust accepts,
// oldest first; refused holds why each other chain was refused (an
// unsigned statement, a signature that does not verify, another target).
func ReplicaWindows(ctx context.Context, t target.Target, trust Trust) (windows []RemoteWindow, refused []error, err error) {
	rfs := t.FS()
	chains, err := remoteChains(rfs, t.Root())
	if err != nil {
		return nil, nil, fmt.Errorf("list the replication on %s: %w", t.URL(), err)
	}
	id, err := replicaTargetID(t, trust)
	if err != nil {
		return nil, nil, err
	}
	var out []RemoteWindow
	var warnings []error
	for _, c := range chains {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		dir := path.Join(t.Root(), snapshot.ReplicaDir, c[0], c[1])
		st, who, err := readStatement(rfs, path.Join(dir, aliveStatement), trust, c[0], c[1], "", id)
		if err != nil {
			warnings = append(warnings, fmt.Errorf("chain %s/%s: %w", c[0], c[1], err))
			continue
		}
		if st.From.IsZero() || st.Time.Before(st.From) || st.MaxTXID < 2 {
			warnings = append(warnings, fmt.Errorf("%w: chain %s/%s: its alive statement gives no window", ErrRemoteCorrupt, c[0], c[1]))
			continue
		}
		out = append(out, RemoteWindow{Base: c[0], Chain: c[1], From: st.From.UTC(), To: st.Time.UTC(), TXID: st.MaxTXID, Signer: who})
	}
	return out, warnings, nil
}

// replicaTargetID is the id the target's replica statements must name:
// the one this machine remembers for the address, else the target's own.
func replicaTargetID(t target.Target, trust Trust) (string, error) {
	remote := Remote{FS: t.FS(), Root: t.Root(), URL: t.URL()}
	var known *knownTarget
	if trust.Memory != nil {
		known = loadKnownTarget(trust.Memory.FS, trust.Memory.BackupDir, t.URL())
	} else {
		known = &knownTarget{Target: t.URL()}
	}
	return readerTargetID(remote, known, trust.AllowOtherTarget)
}

// PullAtResult says what PullAt fetched.
type PullAtResult struct {
	At    time.Time `json:"at"`
	Base  string    `json:"base"`
	Chain string    `json:"chain"`
	// BasePulled is set when the base snapshot was pulled too (it was not local).
	BasePulled bool `json:"base_pulled"`
	// Seen is the time of the last file fetched: the database as the
	// replicator saw it then, unchanged until At.
	Seen  time.Time `json:"seen"`
	TXID  uint64    `json:"txid"`
	Files int       `json:"files"`
	Bytes int64     `json:"bytes"`
	Dir   string    `json:"dir"` // the local copy of the chain
}

// PullAt fetches from t what a restore to the time at needs: the base
// snapshot of the chain that covers it (Pull, when it is not local), and
// the chain's files up to at, each checked against its signed statement
// (size, SHA-256), decrypted and checked as LTX, into a local chain of
// the same name. `restore --at` then restores from it. A time no chain on
// t covers is an *replica.OutsideError.
func PullAt(ctx context.Context, cfg backup.Config, t target.Target, at time.Time, open Opening) (*PullAtResult, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if open.Trust.Memory == nil {
		open.Trust.Memory = MemoryIn(cfg)
	}
	ws, refused, err := ReplicaWindows(ctx, t, open.Trust)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if len(ws) == 0 && len(refused) > 0 {
		// Chains there are, but none is believed: say why, not "none".
		return nil, fmt.Errorf("pull from %s: no replication chain there can be trusted (%d refused): %w", t.URL(), len(refused), refused[0])
	}
	var pick *RemoteWindow
	for i := range ws {
		w := &ws[i]
		if !at.Before(w.From) && !at.After(w.To) && (pick == nil || w.From.After(pick.From)) {
			pick = w
		}
	}
	if pick == nil {
		windows := make([]replica.Window, len(ws))
		for i, w := range ws {
			windows[i] = replica.Window{Base: w.Base, Chain: w.Chain, From: w.From, To: w.To}
		}
		return nil, fmt.Errorf("pull from %s: %w", t.URL(), &replica.OutsideError{At: at, Windows: windows})
	}
	res := &PullAtResult{At: at, Base: pick.Base, Chain: pick.Chain}
	if _, err := os.Stat(snapshot.Dir(cfg.BackupDir, pick.Base)); err != nil {
		if _, err := Pull(ctx, cfg, t, pick.Base, open); err != nil {
			return nil, fmt.Errorf("pull the base snapshot %s of chain %s: %w", pick.Base, pick.Chain, err)
		}
		res.BasePulled = true
	}
	p := &chainPull{t: t, rfs: t.FS(), open: open, base: pick.Base, chain: pick.Chain,
		dir: path.Join(t.Root(), snapshot.ReplicaDir, pick.Base, pick.Chain)}
	if p.id, err = replicaTargetID(t, open.Trust); err != nil {
		return nil, err
	}
	cst, _, err := readStatement(p.rfs, path.Join(p.dir, chainStatement), open.Trust, pick.Base, pick.Chain, "", p.id)
	if err != nil {
		return nil, fmt.Errorf("pull: chain %s: %w", pick.Chain, err)
	}
	if err := p.decryptor(cst); err != nil {
		return nil, err
	}
	local, err := replica.CopyChain(cfg.BackupDir, replica.ChainInfo{Base: pick.Base, Chain: pick.Chain, StartedAt: cst.StartedAt,
		PageSize: cst.PageSize, BaseChecksum: cst.BaseChecksum, BaseSHA256: cst.BaseSHA256, From: pick.From})
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	res.Dir = local
	if err := p.fetchUpTo(ctx, at, local, res); err != nil {
		return res, fmt.Errorf("pull from %s: %w", t.URL(), err)
	}
	if res.TXID < 2 {
		return res, fmt.Errorf("pull from %s: chain %s holds no segment at or before %s", t.URL(), pick.Chain, at.Format(time.RFC3339Nano))
	}
	// The local copy is known up to at: the chain has no segment between
	// the last one fetched and at.
	if err := replica.RecordTick(local, at, res.TXID); err != nil {
		return res, err
	}
	return res, nil
}

// chainPull reads one chain from a target.
type chainPull struct {
	t     target.Target
	rfs   afero.Fs
	open  Opening
	id    string
	base  string
	chain string
	dir   string
	dec   interface {
		Decrypt(io.Reader) (io.Reader, error)
	}
	suffix string
}

func (p *chainPull) decryptor(cst *ReplicaStatement) error {
	if !cst.KeyFile && len(cst.Recipients) == 0 {
		return nil // plaintext
	}
	p.suffix = ".age"
	var keyFile []byte
	if cst.KeyFile {
		b, err := readBounded(p.rfs, path.Join(p.dir, replicaKeyFile), 64<<10)
		if err != nil {
			return fmt.Errorf("read the chain's %s: %w", replicaKeyFile, err)
		}
		keyFile = b
	}
	d, err := p.open.decryptor(keyFile)
	if err != nil {
		return err
	}
	p.dec = d
	return nil
}

// fetchUpTo walks the chain's levels as replica.PlanAt does (whole hours,
// then minutes, then ticks, each at or before at) and fetches each file.
func (p *chainPull) fetchUpTo(ctx context.Context, at time.Time, local string, res *PullAtResult) error {
	byLevel := make([]map[uint64]string, len(replica.LevelDirs()))
	for level, d := range replica.LevelDirs() {
		byLevel[level] = map[uint64]string{}
		entries, err := afero.ReadDir(p.rfs, path.Join(p.dir, d))
		if err != nil {
			return err
		}
		for _, e := range entries {
			name, ok := cutSuffix(e.Name(), p.suffix+sigSuffix)
			if p.suffix == "" {
				name, ok = cutSuffix(e.Name(), sigSuffix)
			}
			if !ok {
				continue
			}
			if lo, _, ok := replica.ParseFileName(name); ok {
				byLevel[level][lo] = d + "/" + name
			}
		}
	}
	cur := uint64(1)
	for level := len(byLevel) - 1; level >= 0; level-- {
		for {
			rel, ok := byLevel[level][cur+1]
			if !ok {
				break
			}
			stored := rel + p.suffix
			st, _, err := readStatement(p.rfs, path.Join(p.dir, stored+sigSuffix), p.open.Trust, p.base, p.chain, stored, p.id)
			if err != nil {
				return err
			}
			if st.MinTXID != cur+1 || st.MaxTXID < st.MinTXID || st.Size <= 0 {
				return fmt.Errorf("%w: %s states TXIDs %d-%d", ErrBadSignature, stored, st.MinTXID, st.MaxTXID)
			}
			if st.Time.After(at) {
				break
			}
			if err := p.fetch(ctx, local, rel, st); err != nil {
				return err
			}
			res.Files++
			res.Bytes += st.Size
			res.Seen, res.TXID = st.Time.UTC(), st.MaxTXID
			cur = st.MaxTXID
		}
	}
	return nil
}

// maxSegment bounds the plaintext of one fetched file.
const maxSegment = 64 << 30

// fetch downloads one file, checks it against its statement while it
// streams, decrypts it and places it in the local chain.
func (p *chainPull) fetch(ctx context.Context, local, rel string, st *ReplicaStatement) error {
	f, fi, err := durable.OpenNoLinks(p.rfs, p.dir, st.File)
	if err != nil {
		return hostile(err)
	}
	defer f.Close()
	if fi.Size() != st.Size {
		return fmt.Errorf("%w: the target's %s is %d bytes, its statement says %d", ErrRemoteCorrupt, st.File, fi.Size(), st.Size)
	}
	h := sha256.New()
	ex := &exactly{r: io.TeeReader(f, h), left: st.Size, name: st.File}
	var r io.Reader = ex
	if p.dec != nil {
		if r, err = p.dec.Decrypt(ex); err != nil {
			return fmt.Errorf("decrypt %s: %w", st.File, err)
		}
	}
	if err := replica.PlaceFile(ctx, local, rel, r, maxSegment); err != nil {
		return err
	}
	// Decryption reads to the end; a plaintext file may leave bytes.
	if _, err := io.Copy(io.Discard, ex); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != st.SHA256 {
		os.Remove(path.Join(local, rel))
		return fmt.Errorf("%w: %s has SHA-256 %s, its statement says %s", ErrBadSignature, st.File, got, st.SHA256)
	}
	return nil
}
