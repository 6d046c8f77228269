package offsite

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
)

// chain is where the next pushed statement stands: its sequence number
// and the digest of the statement before it. It continues from the newest
// statement on the target signed by this pusher's key, or from what this
// machine remembers pushing there, whichever is newer: a target that lost
// its newest snapshots gets higher numbers than it lost, never the same.
type chain struct {
	next uint64
	prev string
	mem  *seen
}

func (p *pusher) startChain(ctx context.Context) error {
	known := loadKnownTarget(p.cfg.FS, p.cfg.BackupDir, p.remote.URL)
	id, err := pusherTargetID(p.cfg.FS, p.remote, known)
	if err != nil {
		return err
	}
	p.targetID = id
	fp := unsignedChain
	if p.opts.Signer != nil {
		fp = fingerprint(p.opts.Signer.PublicKey())
	}
	p.seen = loadSeen(p.cfg.FS, p.cfg.BackupDir, id, fp, p.remote.URL)
	p.chain = &chain{next: p.seen.Sequence + 1, prev: p.seen.Statement, mem: p.seen}
	// Statements from before they named their target continue the chain.
	if legacy := loadLegacySeen(p.cfg.FS, p.cfg.BackupDir, p.remote.URL); legacy.Sequence >= p.chain.next {
		p.chain.next, p.chain.prev = legacy.Sequence+1, legacy.Statement
	}
	if p.opts.Signer == nil {
		return nil
	}
	// Statements of a key trusted beside this host's (the previous one,
	// after a rotation) are this host's own: the snapshots they sign are
	// not damaged, and the chain continues from them.
	p.own = sshsig.Trusting("this host", p.opts.Signer.PublicKey()).Plus(p.opts.Trusted)
	v := &sight{remote: p.remote, id: id, known: known}
	all, err := v.verifiedOn(ctx, p.own)
	if err != nil {
		return err
	}
	for _, s := range all {
		if v.ours(s) && p.chainable(s) && s.st.Sequence >= p.chain.next {
			p.chain.next, p.chain.prev = s.st.Sequence+1, s.digest
		}
	}
	return nil
}

// maxSequence bounds the sequence numbers a chain continues from: a
// statement claiming more (near 2^64, where the next one would wrap to 0
// and look like a rollback to every reader) is not followed.
const maxSequence = 1 << 53

// chainable reports whether this host's chain may continue from the
// verified statement s: one signed by this host's key, or by a key it
// trusts (its previous one) for a stamp this machine pushed here; never
// another trusted host's.
func (p *pusher) chainable(s *signed) bool {
	if s.st.Sequence >= maxSequence {
		return false
	}
	if s.fp == p.ownFingerprint() {
		return true
	}
	return slices.Contains(p.state.Pushed, s.st.Stamp) || slices.Contains(p.state.Stated, s.st.Stamp)
}

// sign writes the statement of the snapshot being pushed into incoming,
// and its signature when the push has a signing key: the last files of
// the snapshot. files are the data files as stored; keyFile and manifest
// the bytes of key.age and remote-manifest.json, when stored.
func (p *pusher) sign(incoming string, s backup.Snapshot, local []snapshot.File, files []snapshot.File, keyFile, manifest []byte, encrypted bool) (*signed, error) {
	st := &Statement{Format: StatementFormat, Stamp: s.Stamp, TargetID: p.targetID, Sequence: p.chain.next, Previous: p.chain.prev, Encrypted: encrypted}
	if s.Metadata != nil {
		st.Kind, st.CreatedAt = s.Metadata.Kind, s.Metadata.CreatedAt
	}
	for _, f := range local {
		if f.Path == snapshot.ManifestFile {
			st.ManifestSHA256 = f.SHA256
		}
	}
	for _, f := range files {
		st.Files = append(st.Files, StoredFile{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
	}
	if keyFile != nil {
		st.Files = append(st.Files, StoredFile{Path: encryptKeyFile, Size: int64(len(keyFile)), SHA256: digestOf(keyFile)})
	}
	if manifest != nil {
		st.Files = append(st.Files, StoredFile{Path: RemoteManifestFile, Size: int64(len(manifest)), SHA256: digestOf(manifest)})
	}
	stored, err := storedChecksums(p.remote.FS, incoming, st.Files, p.ownStored(incoming))
	if err != nil {
		return nil, err
	}
	for i := range st.Files {
		st.Files[i].Stored = stored[st.Files[i].Path]
	}
	data, err := st.encode()
	if err != nil {
		return nil, err
	}
	rfs := p.remote.FS
	// The signature first, the statement last: a statement without
	// signature is never left by a push that had a key.
	_ = rfs.Remove(filepath.Join(incoming, StatementFile))
	sigDigest := ""
	if p.opts.Signer != nil {
		sig, err := sshsig.Sign(p.opts.Signer, SignatureNamespace, data)
		if err != nil {
			return nil, err
		}
		if err := writeRemote(rfs, filepath.Join(incoming, SignatureFile), sig); err != nil {
			return nil, err
		}
		sigDigest = digestOf(sig)
	} else {
		_ = rfs.Remove(filepath.Join(incoming, SignatureFile)) // left by a push that had a key
	}
	if err := writeRemote(rfs, filepath.Join(incoming, StatementFile), data); err != nil {
		return nil, err
	}
	return &signed{status: SignatureVerified, st: st, digest: digestOf(data), sigDigest: sigDigest}, nil
}

// placed moves the chain on once the statement's snapshot is in place and
// remembers it.
func (p *pusher) placed(sg *signed) error {
	p.chain.next, p.chain.prev = sg.st.Sequence+1, sg.digest
	return p.seen.note(p.cfg.FS, sg, true)
}
