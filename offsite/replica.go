package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/ctxio"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/replica"
	"github.com/atocore/atocore-backup/target"
)

// Replication on a target (docs/formats.md, "Replication on a target"):
//
//	replica/<BASE>/<CHAIN>/chain.sig.json            the chain, signed
//	replica/<BASE>/<CHAIN>/alive.sig.json            the last tick shipped, signed
//	replica/<BASE>/<CHAIN>/key.age                   passphrase mode: the chain's session key
//	replica/<BASE>/<CHAIN>/L0/<MIN>-<MAX>.ltx.age    a segment, encrypted as snapshot files are
//	replica/<BASE>/<CHAIN>/L0/<MIN>-<MAX>.ltx.age.sig.json   its statement, signed
//
// Every file is stated by a ReplicaStatement that names the target, the
// chain, the file, its size and SHA-256 as stored, and (segments) its
// TXIDs and time; it is signed with the key that signs snapshot
// statements, in the same SSHSIG namespace. The base snapshot is pushed
// (Push) before the chain's first file.
const (
	replicaStatementFormat = "atocore-backup replica statement 1"
	sigSuffix              = ".sig.json"
	chainStatement         = "chain" + sigSuffix
	aliveStatement         = "alive" + sigSuffix
	replicaKeyFile         = "key.age"
	// maxReplicaStatement bounds what is read of one statement.
	maxReplicaStatement = 64 << 10
	// aliveEvery is how often, at most, the last tick is shipped when no
	// segment is (each new segment ships it too): the target's window
	// then ends at most that long before the local one.
	aliveEvery = time.Second
)

// ReplicaStatement is what a replication file on a target is.
type ReplicaStatement struct {
	Format string `json:"format"`
	Target string `json:"target"` // the target's id (target-id)
	Base   string `json:"base"`
	Chain  string `json:"chain"`
	// File is the stated file, relative to the chain's directory
	// ("L0/...ltx.age"); "" for the chain and alive statements.
	File   string `json:"file,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// MinTXID, MaxTXID and Time are the segment's (LTX header).
	MinTXID uint64    `json:"min_txid,omitempty"`
	MaxTXID uint64    `json:"max_txid,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	// Chain statement: the chain itself.
	PageSize     uint32    `json:"page_size,omitempty"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	BaseChecksum string    `json:"base_checksum,omitempty"`
	BaseSHA256   string    `json:"base_sha256,omitempty"`
	// Alive statement: the first segment's time and the last tick
	// shipped (Time, MaxTXID).
	From time.Time `json:"from,omitzero"`
	// KeyFile is set when the chain's files are encrypted to a
	// passphrase session key (key.age beside the chain statement).
	KeyFile bool `json:"key_file,omitempty"`
	// Recipients are the public recipients, when encrypted to them.
	Recipients []string `json:"recipients,omitempty"`
}

// signedStatement is a .sig.json file: the statement's bytes as signed,
// and the armored SSHSIG signature ("" when unsigned).
type signedStatement struct {
	Statement json.RawMessage `json:"statement"`
	Signature string          `json:"signature"`
}

// ReplicaOptions say how chains go to a target.
type ReplicaOptions struct {
	Sealing Sealing
	Signer  ssh.Signer
	// Push is how the base snapshot is pushed when the target lacks it
	// (Sealing and Signer are taken from above).
	Push PushOptions
}

// ReplicaShipper uploads the chains of a backup directory to one target
// (a replica.Target): each file the target lacks, encrypted and stated.
// It is not safe for concurrent Ship calls (the replicator makes none).
type ReplicaShipper struct {
	cfg  backup.Config
	t    target.Target
	opts ReplicaOptions

	mu       sync.Mutex
	targetID string
	bases    map[string]bool
	chains   map[string]*shippedChain
}

type shippedChain struct {
	sess      *session
	have      map[string]bool // files with their statement on the target
	alive     time.Time       // the last tick shipped
	aliveTXID uint64
	from      time.Time
	maxTXID   uint64
	// seen is, per level, the highest first TXID of the local files
	// shipped or found on the target: each Ship lists only what is past
	// it (replica.ChainFilesAfter).
	seen [3]uint64
}

var _ replica.Target = (*ReplicaShipper)(nil)

// NewReplicaShipper returns the shipper of cfg's chains to t.
func NewReplicaShipper(cfg backup.Config, t target.Target, opts ReplicaOptions) *ReplicaShipper {
	opts.Push.Sealing, opts.Push.Signer = opts.Sealing, opts.Signer
	return &ReplicaShipper{cfg: cfg, t: t, opts: opts, bases: map[string]bool{}, chains: map[string]*shippedChain{}}
}

// Name is the target's URL.
func (s *ReplicaShipper) Name() string { return s.t.URL() }

func (s *ReplicaShipper) remote() Remote {
	return Remote{FS: s.t.FS(), Root: s.t.Root(), URL: s.t.URL()}
}

// Ship uploads what the target lacks of the chain in dir, then its last
// tick (seen) when it moved.
func (s *ReplicaShipper) Ship(ctx context.Context, dir string, seen time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, err := replica.ReadChain(dir)
	if err != nil {
		return err
	}
	if err := s.ensureBase(ctx, info.Base); err != nil {
		return err
	}
	rfs := s.t.FS()
	rdir := path.Join(s.t.Root(), snapshot.ReplicaDir, info.Base, info.Chain)
	sc, err := s.chain(ctx, rdir, info)
	if err != nil {
		return err
	}
	files, err := replica.ChainFilesAfter(dir, sc.seen)
	if err != nil {
		return err
	}
	sent := false
	for _, f := range files {
		if sc.have[f.Rel] {
			if f.MaxTXID > sc.maxTXID && f.Level == 0 {
				sc.maxTXID = f.MaxTXID
			}
			sc.seen[f.Level] = max(sc.seen[f.Level], f.MinTXID)
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := replica.FileTime(f.Path)
		if err != nil {
			return err
		}
		if err := s.upload(ctx, rfs, rdir, info, sc, f, t); err != nil {
			return err
		}
		sc.have[f.Rel] = true
		sc.seen[f.Level] = max(sc.seen[f.Level], f.MinTXID)
		if f.MinTXID == 2 && f.Level == 0 {
			sc.from = t
		}
		if f.MaxTXID > sc.maxTXID {
			sc.maxTXID = f.MaxTXID
		}
		sent = true
	}
	last, txid, ok := replica.LastTick(dir)
	if !ok || txid != sc.maxTXID || last.After(seen) {
		last, txid = seen, sc.maxTXID
	}
	// The last segment's time is rounded up to the millisecond: the
	// window reaches at least that far.
	if newest := newestFile(files); newest != nil && newest.MaxTXID == txid {
		if t, err := replica.FileTime(newest.Path); err == nil && t.After(last) {
			last = t
		}
	}
	if sc.maxTXID >= 2 && !sc.from.IsZero() && (sent || last.Sub(sc.alive) >= aliveEvery) && last.After(sc.alive) {
		st := s.statement(info)
		st.From, st.Time, st.MaxTXID = sc.from.UTC(), last.UTC(), txid
		if err := s.writeStatement(rfs, path.Join(rdir, aliveStatement), st); err != nil {
			return err
		}
		sc.alive, sc.aliveTXID = last, txid
	}
	return nil
}

// ensureBase pushes the chain's base snapshot when the target lacks it.
func (s *ReplicaShipper) ensureBase(ctx context.Context, base string) error {
	if s.bases[base] {
		return nil
	}
	rfs := s.t.FS()
	if _, err := rfs.Stat(path.Join(s.t.Root(), snapshot.SnapshotsDir, base, StatementFile)); err != nil {
		opts := s.opts.Push
		opts.Stamps = []string{base}
		if _, err := Push(ctx, s.cfg, s.t, opts); err != nil {
			return fmt.Errorf("push the chain's base snapshot %s: %w", base, err)
		}
	}
	id, err := readTargetID(s.remote())
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%s has no %s after the push of %s", s.t.URL(), TargetIDFile, base)
	}
	s.targetID, s.bases[base] = id, true
	return nil
}

// chain returns what the target holds of a chain, making its directories
// and its statement (and key file) on the first call.
func (s *ReplicaShipper) chain(ctx context.Context, rdir string, info replica.ChainInfo) (*shippedChain, error) {
	if sc := s.chains[info.Chain]; sc != nil {
		return sc, nil
	}
	rfs := s.t.FS()
	for _, d := range replica.LevelDirs() {
		if err := rfs.MkdirAll(path.Join(rdir, d), 0o700); err != nil {
			return nil, fmt.Errorf("create %s on the target: %w", path.Join(rdir, d), err)
		}
	}
	sc := &shippedChain{have: map[string]bool{}}
	for _, d := range replica.LevelDirs() {
		entries, err := afero.ReadDir(rfs, path.Join(rdir, d))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if name, ok := cutSuffix(e.Name(), encryptedSuffix(s.opts.Sealing)+sigSuffix); ok {
				sc.have[d+"/"+name] = true
			}
		}
	}
	var keyFile []byte
	if len(s.opts.Sealing.Passphrase) > 0 {
		if b, err := readBounded(rfs, path.Join(rdir, replicaKeyFile), 64<<10); err == nil {
			keyFile = b
		}
	}
	sess, err := s.opts.Sealing.open(keyFile)
	if err != nil {
		return nil, err
	}
	sc.sess = sess
	if sess.keyFile != nil && keyFile == nil {
		if err := writeRemote(rfs, path.Join(rdir, replicaKeyFile), sess.keyFile); err != nil {
			return nil, err
		}
	}
	st := s.statement(info)
	st.PageSize, st.StartedAt, st.BaseChecksum, st.BaseSHA256 = info.PageSize, info.StartedAt.UTC(), info.BaseChecksum, info.BaseSHA256
	if err := s.writeStatement(rfs, path.Join(rdir, chainStatement), st); err != nil {
		return nil, err
	}
	s.chains[info.Chain] = sc
	return sc, nil
}

// newestFile is the file that ends the chain (the highest TXID).
func newestFile(files []replica.ChainFile) *replica.ChainFile {
	var n *replica.ChainFile
	for i := range files {
		if n == nil || files[i].MaxTXID > n.MaxTXID {
			n = &files[i]
		}
	}
	return n
}

func cutSuffix(name, suffix string) (string, bool) {
	if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
		return name[:len(name)-len(suffix)], true
	}
	return "", false
}

// encryptedSuffix is what a sealed file's name gains (".age", or "").
func encryptedSuffix(s Sealing) string {
	if s.Encrypted() {
		return ".age"
	}
	return ""
}

func (s *ReplicaShipper) statement(info replica.ChainInfo) ReplicaStatement {
	st := ReplicaStatement{Format: replicaStatementFormat, Target: s.targetID, Base: info.Base, Chain: info.Chain}
	if s.opts.Sealing.Recipients != nil {
		st.Recipients = s.opts.Sealing.Recipients.List()
	}
	st.KeyFile = len(s.opts.Sealing.Passphrase) > 0
	return st
}

// upload encrypts one chain file to its place on the target (through a
// .part name where renames are cheap), then writes its statement.
func (s *ReplicaShipper) upload(ctx context.Context, rfs afero.Fs, rdir string, info replica.ChainInfo, sc *shippedChain, f replica.ChainFile, t time.Time) error {
	in, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer in.Close()
	rel := f.Rel + encryptedSuffix(s.opts.Sealing)
	dst := path.Join(rdir, rel)
	part := partName(rfs, dst)
	_ = rfs.Remove(part)
	pr, pw := io.Pipe()
	go func() {
		var err error
		if sc.sess.enc == nil {
			_, err = io.Copy(pw, ctxio.NewReader(ctx, in))
		} else {
			var w io.WriteCloser
			if w, err = sc.sess.enc.Encrypt(pw); err == nil {
				if _, err = io.Copy(w, ctxio.NewReader(ctx, in)); err == nil {
					err = w.Close()
				} else {
					w.Close()
				}
			}
		}
		pw.CloseWithError(err)
	}()
	h := sha256.New()
	n, err := writeStream(rfs, part, io.TeeReader(pr, h), true)
	pr.CloseWithError(errors.New("upload ended"))
	if err != nil {
		_ = rfs.Remove(part)
		return fmt.Errorf("upload %s to %s: %w", rel, s.t.URL(), err)
	}
	if part != dst {
		if err := renameReplace(rfs, part, dst); err != nil {
			return fmt.Errorf("upload %s to %s: %w", rel, s.t.URL(), err)
		}
	}
	st := s.statement(info)
	st.File, st.Size, st.SHA256 = rel, n, hex.EncodeToString(h.Sum(nil))
	st.MinTXID, st.MaxTXID, st.Time = f.MinTXID, f.MaxTXID, t.UTC()
	return s.writeStatement(rfs, dst+sigSuffix, st)
}

// writeStatement signs st (when there is a signer) and writes it.
func (s *ReplicaShipper) writeStatement(rfs afero.Fs, name string, st ReplicaStatement) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	ss := signedStatement{Statement: b}
	if s.opts.Signer != nil {
		sig, err := sshsig.Sign(s.opts.Signer, SignatureNamespace, b)
		if err != nil {
			return fmt.Errorf("sign %s: %w", path.Base(name), err)
		}
		ss.Signature = string(sig)
	}
	// Not indented: the statement's bytes must stay those signed.
	out, err := json.Marshal(ss)
	if err != nil {
		return err
	}
	if target.IsObjectStore(rfs) {
		// alive.sig.json is rewritten: the object store's files are
		// created exclusively, so the old one goes first (a reader in
		// that moment finds the chain without a window, and tries again).
		_ = rfs.Remove(name)
		if _, err := writeStream(rfs, name, bytesReader(append(out, '\n')), true); err != nil {
			return fmt.Errorf("write %s on the target: %w", name, err)
		}
		return nil
	}
	return writeRemote(rfs, name, append(out, '\n'))
}

// readStatement reads and checks a statement on the target: its format,
// chain, file, the target id want (when known), and its signature
// against trust. It returns the statement and who signed it.
func readStatement(rfs afero.Fs, name string, trust Trust, base, chain, file, wantTarget string) (*ReplicaStatement, string, error) {
	b, err := readBounded(rfs, name, maxReplicaStatement)
	if err != nil {
		return nil, "", err
	}
	var ss signedStatement
	if err := json.Unmarshal(b, &ss); err != nil || len(ss.Statement) == 0 {
		return nil, "", fmt.Errorf("%s is not a statement", path.Base(name))
	}
	var st ReplicaStatement
	if err := json.Unmarshal(ss.Statement, &st); err != nil || st.Format != replicaStatementFormat {
		return nil, "", fmt.Errorf("%s is not a replica statement", path.Base(name))
	}
	if st.Base != base || st.Chain != chain || st.File != file {
		return nil, "", fmt.Errorf("%w: %s states %s/%s %q, not %s/%s %q", ErrBadSignature, path.Base(name), st.Base, st.Chain, st.File, base, chain, file)
	}
	if wantTarget != "" && st.Target != wantTarget {
		return nil, "", fmt.Errorf("%w: %s names target %s, this target is %s", ErrOtherTarget, path.Base(name), st.Target, wantTarget)
	}
	who := "unsigned"
	switch {
	case ss.Signature == "" && trust.AllowUnsigned:
	case ss.Signature == "":
		return nil, "", fmt.Errorf("%w: %s is not signed", ErrUnsigned, path.Base(name))
	case trust.Signers == nil && trust.AllowUnsigned:
		who = "not checked"
	case trust.Signers == nil:
		return nil, "", fmt.Errorf("%w (%s)", ErrNotVerified, path.Base(name))
	default:
		var err error
		if who, err = trust.Signers.Verify([]byte(ss.Signature), SignatureNamespace, ss.Statement); err != nil {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrBadSignature, path.Base(name), err)
		}
	}
	return &st, who, nil
}

// remoteChains lists the chain directories on a target: base, chain.
func remoteChains(rfs afero.Fs, root string) ([][2]string, error) {
	bases, err := afero.ReadDir(rfs, path.Join(root, snapshot.ReplicaDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, b := range bases {
		if _, err := snapshot.ParseStamp(b.Name()); err != nil || !b.IsDir() {
			continue
		}
		chains, err := afero.ReadDir(rfs, path.Join(root, snapshot.ReplicaDir, b.Name()))
		if err != nil {
			return nil, err
		}
		for _, c := range chains {
			if c.IsDir() && len(out) < maxRemoteChains {
				out = append(out, [2]string{b.Name(), c.Name()})
			}
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int {
		if a[1] != b[1] {
			return compareStrings(a[1], b[1])
		}
		return compareStrings(a[0], b[0])
	})
	return out, nil
}

// maxRemoteChains bounds the chains one command reads from a target.
const maxRemoteChains = 10000

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
