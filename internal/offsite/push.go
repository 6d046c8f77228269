package offsite

import (
	"cmp"
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
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/afero"
	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/validate"
)

// Remote is a place that holds snapshots/ on its own filesystem.
type Remote struct {
	FS   afero.Fs
	Root string
	// URL names the remote in messages and results, without secrets.
	URL string
}

// streamWriter is the optional fast upload path of a target filesystem
// (SFTP: concurrent writes for streams of unknown length).
type streamWriter interface {
	WriteFileFrom(name string, r io.Reader, perm os.FileMode) (int64, error)
}

// unsyncedStreamWriter is the same path leaving the fsync to the caller.
type unsyncedStreamWriter interface {
	WriteFileFromNoSync(name string, r io.Reader, perm os.FileMode) (int64, error)
}

// PushOptions tunes a push.
type PushOptions struct {
	Sealing Sealing
	// Stamps limits the push to these snapshots; nil means every local
	// snapshot the remote lacks.
	Stamps []string
	// Progress, when set, is called with the number of bytes sent since its
	// previous call (never by two goroutines at once).
	Progress func(sent int64)
	// Signer signs each pushed snapshot's statement (an Ed25519 SSH key).
	// Without it the statements are written unsigned, and readers that
	// require signatures refuse them.
	Signer ssh.Signer
	// Verify reads back every byte of the snapshots already on the target
	// and compares its SHA-256 with their statements: a copy damaged
	// without a change of size is then repaired too. Without it, push
	// compares names and sizes (a cheap look every run); remote validate
	// reads the bytes.
	Verify bool
	// Trusted are further keys whose statements on the target are this
	// host's own: the previous signing key after a rotation (an
	// allowed_signers file). A snapshot whose statement verifies against
	// one of them and whose files match it is left as it is, not pushed
	// again.
	Trusted *sshsig.AllowedSigners
}

// PushResult says what a push did. Its JSON is the output of `push`.
type PushResult struct {
	Target  string       `json:"target"`
	Pushed  []PushedInfo `json:"pushed"`
	Present []string     `json:"already_present"`
	// Pruned lists snapshots pushed before and since removed by the
	// target's retention: they are not sent again (unless named in Stamps).
	Pruned []string `json:"pruned_on_target"`
	// Refilled lists snapshots pushed before that the target lost (newer
	// than any it kept: not its retention): they were pushed again.
	Refilled []string `json:"refilled"`
	// Repaired lists snapshots the target held otherwise than their
	// statement says (or without a valid signature of this host's key):
	// they were pushed again, replacing what was there.
	Repaired []Repair `json:"repaired"`
	// BytesSent counts bytes written to the remote, all snapshots together.
	BytesSent int64 `json:"bytes_sent"`
	// Warnings are what the operator should know and the push worked
	// around, each "code: explanation" (WarnLinksNotMade).
	Warnings []string `json:"warnings"`
}

// WarnLinksNotMade is the warning of a push to a server that answered
// success to a hard link and made none (rclone serve sftp 1.60): the
// unchanged files were uploaded instead, for the rest of the push.
const WarnLinksNotMade = "links_not_made"

// PushedInfo describes one pushed snapshot.
type PushedInfo struct {
	Stamp     string `json:"stamp"`
	Files     int    `json:"files"`
	Sent      int    `json:"files_sent"`
	Linked    int    `json:"files_linked"`
	Resumed   int    `json:"files_resumed"`
	BytesSent int64  `json:"bytes_sent"`
	Encrypted bool   `json:"encrypted"`
	// Sequence is the number of this push to the target (its statement's).
	Sequence uint64 `json:"sequence"`
	// Signed says the statement is signed.
	Signed bool `json:"signed"`
	// Warnings say what the push did differently from usual (a new
	// session key because the target's key file was damaged).
	Warnings []string `json:"warnings,omitempty"`
}

// Repair is a snapshot pushed again over a damaged remote copy, and why.
type Repair struct {
	Stamp  string `json:"stamp"`
	Reason string `json:"reason"`
}

// Push copies the local snapshots of cfg that the remote lacks. Each local
// snapshot is validated first (an invalid one is never pushed). It holds
// the local backup directory's lock so that no prune removes a snapshot
// being read.
func Push(ctx context.Context, cfg backup.Config, remote Remote, opts PushOptions) (*PushResult, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	lock, err := backup.LockDir(ctx, cfg, "push", backup.Wait{On: true})
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	defer lock.Release()
	local, err := backup.ListDir(ctx, cfg.FS, cfg.BackupDir)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	res := &PushResult{Target: remote.URL, Pushed: []PushedInfo{}, Present: []string{}, Pruned: []string{}, Refilled: []string{}, Repaired: []Repair{}, Warnings: []string{}}
	st := loadState(cfg.FS, cfg.BackupDir, remote.URL)
	p := &pusher{cfg: cfg, remote: remote, opts: opts, state: st, res: res}
	if err := p.startChain(ctx); err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if !exclusiveCreates(remote.FS, remote.Root) {
		res.Warnings = append(res.Warnings, WarnClaimNotExclusive+": the target ignores exclusive creates (rclone serve sftp does), so the claim of a stamp cannot stop a second host that starts pushing it at the same moment: both upload, each into its own incoming directory, one snapshot is kept and the other push fails (stamp taken)")
	}
	p.putBackAside()
	pl := p.survey()
	var taken []string // stamps another host's snapshot holds on the target
	for _, s := range local {
		if opts.Stamps != nil && !slices.Contains(opts.Stamps, s.Stamp) {
			continue
		}
		act, why := p.decide(ctx, pl, s)
		aside := ""
		switch act {
		case leaveIt:
			res.Present = append(res.Present, s.Stamp)
			continue
		case prunedIt:
			res.Pruned = append(res.Pruned, s.Stamp)
			continue
		case takenIt:
			taken = append(taken, why)
			res.Warnings = append(res.Warnings, "stamp_taken: "+s.Stamp)
			continue
		case refillIt:
			res.Refilled = append(res.Refilled, s.Stamp)
		case repairIt:
			if aside, err = p.setAside(s.Stamp); err != nil {
				return res, fmt.Errorf("push %s to %s: %w", s.Stamp, remote.URL, err)
			}
			res.Repaired = append(res.Repaired, Repair{Stamp: s.Stamp, Reason: why})
		}
		p.noLinks = act == repairIt // its old files are suspect: send every byte
		info, err := p.push(ctx, s)
		if err != nil {
			if aside != "" {
				// The damaged copy goes back where it was: a failed
				// repair must not make a snapshot look pruned.
				_ = remote.FS.Rename(aside, snapshot.Dir(remote.Root, s.Stamp))
			}
			return res, fmt.Errorf("push %s to %s: %w", s.Stamp, remote.URL, err)
		}
		if aside != "" {
			_ = remote.FS.RemoveAll(aside)
		}
		res.Pushed = append(res.Pushed, *info)
	}
	for _, want := range opts.Stamps {
		if !slices.ContainsFunc(local, func(s backup.Snapshot) bool { return s.Stamp == want }) {
			return res, fmt.Errorf("push: no local snapshot %s in %s", want, cfg.BackupDir)
		}
	}
	if len(taken) > 0 {
		// The others are pushed; these are not off-site, which the
		// operator must hear of, not read in a warning.
		return res, fmt.Errorf("push to %s: %w: %s", remote.URL, ErrStampTaken, strings.Join(taken, "; "))
	}
	return res, nil
}

type pusher struct {
	cfg    backup.Config
	remote Remote
	opts   PushOptions
	state  *pushState
	res    *PushResult

	seen     *seen                  // what this machine remembers of its sequence on the target
	targetID string                 // the target's id, named in every statement
	chain    *chain                 // the next statement's place
	own      *sshsig.AllowedSigners // this host's key, to recognise its statements
	noLinks  bool                   // send every file of this snapshot
	// linksFake is set once the target's links turned out not to be
	// real: the rest of the push uploads instead (see link).
	linksFake bool

	progressMu sync.Mutex
}

// journal is the record of finished files of one incoming snapshot.
type journal struct {
	KeyID string                   `json:"key_id"`
	Files map[string]snapshot.File `json:"files"` // by remote path
}

func (p *pusher) push(ctx context.Context, s backup.Snapshot) (*PushedInfo, error) {
	// A snapshot this tool validated at creation gets the structural checks
	// here and its digests checked as its bytes stream to the target (a
	// mismatch stops it before it is renamed into place); any other gets
	// the full validation first.
	opts := validate.Options{}
	if s.Metadata != nil && s.Metadata.Validated {
		opts = validate.Options{TrustIntegrity: true, SkipDigest: func(string) bool { return true }}
	}
	v, err := validate.Dir(ctx, p.cfg.FS, s.Path, s.Stamp, opts)
	if err != nil {
		return nil, err
	}
	if !v.Valid {
		return nil, fmt.Errorf("the local snapshot is invalid, not pushing it: %w", v.Err())
	}
	files, err := localFiles(ctx, p.cfg.FS, s.Path)
	if err != nil {
		return nil, err
	}
	rfs, root := p.remote.FS, p.remote.Root
	holder := claimHolder(p.cfg.BackupDir)
	release, err := claim(rfs, root, s.Stamp, holder)
	if err != nil {
		return nil, err
	}
	defer release()
	// This host's own incoming directory: where a server ignores the
	// claim (rclone), another host pushing the same stamp uploads into its
	// own, never into this one.
	incoming, err := ownIncoming(rfs, root, s.Stamp, holder)
	if err != nil {
		return nil, err
	}
	// Only what this machine itself recorded is resumed: the target's own
	// journal is the target's word, and a file it claims is finished may
	// be anybody's (encrypted to the public recipients), which the
	// statement would then sign. A file is resumed when the local journal
	// lists it and the target's bytes hash to what this machine wrote.
	// It is kept per stamp, not per target address: the same target may be
	// reached under another address next time, and bytes that hash to what
	// this machine wrote are its own wherever they are.
	localJournal := filepath.Join(p.cfg.BackupDir, stateDir, "incoming-"+s.Stamp+".json")
	jr := readLocalJournal(p.cfg.FS, localJournal)

	// The session: reuse the key file of a resumed upload, else that of
	// the previous pushed snapshot (so its files can be linked), else new.
	prev := p.state.latest(p.remote, rfs, root)
	if p.noLinks {
		prev = nil
	}
	sess, warning, err := p.session(incoming, jr, prev)
	if err != nil {
		return nil, err
	}
	if jr.KeyID != sess.keyID {
		jr = &journal{KeyID: sess.keyID, Files: map[string]snapshot.File{}} // other keys: nothing reusable
	}
	if prev != nil && prev.KeyID != sess.keyID {
		prev = nil
	}
	if sess.keyFile != nil {
		if err := writeRemote(rfs, filepath.Join(incoming, encryptKeyFile), sess.keyFile); err != nil {
			return nil, err
		}
	}

	info := &PushedInfo{Stamp: s.Stamp, Files: len(files), Encrypted: sess.enc != nil}
	if warning != "" {
		p.cfg.Logger.Warn(warning, "stamp", s.Stamp, "target", p.remote.URL)
		info.Warnings = append(info.Warnings, warning)
	}
	entry := &stateEntry{Stamp: s.Stamp, KeyID: sess.keyID, Files: map[string]snapshot.File{}}
	if sess.keyFile != nil {
		entry.KeyFile = encryptKeyFile
	}
	// Files already on the target (resumed, or linked to the previous
	// pushed snapshot) are recorded at once; the others are uploaded
	// uploadStreams at a time.
	remoteFiles := make([]snapshot.File, len(files))
	var uploads []int
	var mu sync.Mutex // guards jr, info, entry and remoteFiles from here on
	// note records a file that is on the target for good; saveJournal
	// writes what was noted to the journal on the target (once for many
	// files: each write is a synced file of its own).
	note := func(i int, done snapshot.File) {
		mu.Lock()
		defer mu.Unlock()
		f := files[i]
		done.Mode = f.Mode
		jr.Files[done.Path] = done
		remoteFiles[i] = done
		if f.SHA256 != "" {
			entry.Files[f.SHA256] = done
		}
	}
	saveJournal := func() error {
		mu.Lock()
		defer mu.Unlock()
		if err := writeLocalJournal(p.cfg.FS, localJournal, jr); err != nil {
			return err
		}
		return writeJournal(rfs, incoming, jr)
	}
	noted := 0
	remoteName := func(f snapshot.File) string {
		if sess.enc != nil {
			return f.Path + sess.enc.Suffix()
		}
		return f.Path
	}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rel := remoteName(f)
		dst := filepath.Join(incoming, filepath.FromSlash(rel))
		var done snapshot.File
		switch {
		case resumable(ctx, rfs, dst, jr.Files[rel]):
			done = jr.Files[rel]
			info.Resumed++
		case p.link(prev, f, dst):
			done = prev.Files[f.SHA256]
			done.Path = rel
			info.Linked++
		default:
			if err := rfs.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return nil, fmt.Errorf("create %s on the target: %w", filepath.Dir(dst), err)
			}
			uploads = append(uploads, i)
			continue
		}
		note(i, done)
		noted++
	}
	if noted > 0 {
		if err := saveJournal(); err != nil {
			return nil, err
		}
	}
	for _, i := range uploads {
		progress.Plan(ctx, files[i].Size)
	}
	largestFirst(files, uploads)
	sy := startSyncer(rfs, len(uploads), saveJournal)
	defer sy.stop()
	err = p.uploadAll(ctx, uploads, func(ctx context.Context, i int) error {
		f := files[i]
		rel := remoteName(f)
		dst := filepath.Join(incoming, filepath.FromSlash(rel))
		d, err := p.upload(ctx, sess, filepath.Join(s.Path, filepath.FromSlash(f.Path)), dst, f.SHA256)
		if err != nil {
			return err
		}
		return sy.submit(dst+partSuffix, dst, func() {
			note(i, snapshot.File{Path: rel, Size: d.Size, SHA256: d.SHA256})
			mu.Lock()
			info.Sent++
			info.BytesSent += d.Size
			mu.Unlock()
		})
	})
	// Whatever happened, every file that was sent is synced, in place and
	// in the journal before we go on or return: the next push resumes
	// from it.
	if serr := sy.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	var rmData []byte
	if sess.enc != nil {
		rm := RemoteManifest{FormatVersion: 1, Stamp: s.Stamp, Encrypted: true, Recipients: []string{}, Files: remoteFiles}
		if s.Metadata != nil {
			rm.Kind, rm.CreatedAt = s.Metadata.Kind, s.Metadata.CreatedAt
		}
		if p.opts.Sealing.Recipients != nil {
			rm.Recipients = p.opts.Sealing.Recipients.List()
		}
		rm.KeyFile = entry.KeyFile
		data, err := json.MarshalIndent(rm, "", "  ")
		if err != nil {
			return nil, err
		}
		rmData = append(data, '\n')
		if err := writeRemote(rfs, filepath.Join(incoming, RemoteManifestFile), rmData); err != nil {
			return nil, err
		}
	}
	sg, err := p.sign(incoming, s, files, remoteFiles, sess.keyFile, rmData, sess.enc != nil)
	if err != nil {
		return nil, err
	}
	info.Sequence, info.Signed = sg.st.Sequence, p.opts.Signer != nil
	// Check what is there before it becomes a snapshot: every file at its
	// size, nothing else but our own bookkeeping.
	if err := verifyIncoming(rfs, incoming, remoteFiles, sess.keyFile != nil, sess.enc != nil); err != nil {
		return nil, err
	}
	if err := rfs.Remove(filepath.Join(incoming, journalFile)); err != nil {
		return nil, err
	}
	if err := place(rfs, incoming, snapshot.Dir(root, s.Stamp), sg); err != nil {
		return nil, err
	}
	p.res.BytesSent += info.BytesSent
	p.state.add(entry)
	if err := p.state.save(p.cfg.FS); err != nil {
		return nil, err
	}
	_ = p.cfg.FS.Remove(localJournal)
	if err := p.placed(sg); err != nil {
		return nil, err
	}
	return info, nil
}

// encryptKeyFile is where a passphrase session key is stored in a snapshot.
const encryptKeyFile = "key.age"

// localFiles lists a local snapshot's files with their plaintext digests:
// from its manifest (plus the manifest itself), or, for snapshots from the
// Python implementation, by walking it (no digests: never linked).
func localFiles(ctx context.Context, fsys afero.Fs, dir string) ([]snapshot.File, error) {
	var out []snapshot.File
	data, err := afero.ReadFile(fsys, filepath.Join(dir, snapshot.ManifestFile))
	if err == nil {
		m, err := snapshot.DecodeManifest(data)
		if err != nil {
			return nil, err
		}
		out = append(out, m.Files...)
		d, err := durable.HashFile(ctx, fsys, filepath.Join(dir, snapshot.ManifestFile))
		if err != nil {
			return nil, err
		}
		out = append(out, snapshot.File{Path: snapshot.ManifestFile, Size: d.Size, SHA256: d.SHA256, Mode: "0600"})
		slices.SortFunc(out, func(a, b snapshot.File) int { return cmpString(a.Path, b.Path) })
		return out, nil
	}
	err = afero.Walk(fsys, dir, func(p string, info fs.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, snapshot.File{Path: filepath.ToSlash(rel), Size: info.Size(), Mode: snapshot.ModeString(info.Mode())})
		return nil
	})
	return out, err
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// resumable reports whether a previous run already finished dst.
// resumable reports whether dst on the target holds the file done that
// this machine uploaded before it was interrupted: a regular file of its
// size whose bytes hash to the digest this machine computed (the target
// could have put other bytes there; re-reading costs less than sending).
func resumable(ctx context.Context, rfs afero.Fs, dst string, done snapshot.File) bool {
	if done.Path == "" || done.SHA256 == "" {
		return false
	}
	fi, err := lstat(rfs, dst)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != done.Size {
		return false
	}
	d, err := durable.HashFile(ctx, rfs, dst)
	return err == nil && d.Size == done.Size && d.SHA256 == done.SHA256
}

// link makes dst a server-side hardlink to the previous pushed snapshot's
// copy of a file with the same plaintext digest, under the same keys, and
// checks that the link is there (sameFile) before the caller journals it.
// A target whose links are not real (it answers success and makes none,
// as rclone serve sftp 1.60 does) gets no more links for the rest of the
// push: each unchanged file is uploaded instead, and the push warns once.
func (p *pusher) link(prev *stateEntry, f snapshot.File, dst string) bool {
	if p.noLinks || p.linksFake || prev == nil || f.SHA256 == "" {
		return false
	}
	old, ok := prev.Files[f.SHA256]
	if !ok {
		return false
	}
	src := filepath.Join(snapshot.Dir(p.remote.Root, prev.Stamp), filepath.FromSlash(old.Path))
	if fi, err := p.remote.FS.Stat(src); err != nil || fi.Size() != old.Size {
		return false
	}
	if err := p.remote.FS.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return false
	}
	_ = p.remote.FS.Remove(dst)
	err := durable.Link(p.remote.FS, src, dst)
	if err == nil {
		if err = sameFile(p.remote.FS, src, dst); err != nil {
			_ = p.remote.FS.Remove(dst)
		}
	}
	if errors.Is(err, errors.ErrUnsupported) && !p.linksFake {
		p.linksFake = true
		if errors.Is(err, durable.ErrLinkNotMade) {
			msg := fmt.Sprintf("%s: %s: %v; unchanged files are uploaded instead of linked", WarnLinksNotMade, p.remote.URL, err)
			p.res.Warnings = append(p.res.Warnings, msg)
			p.cfg.Logger.Warn("the target's hard links are not real; uploading unchanged files instead",
				"target", p.remote.URL, "err", err)
		}
	}
	return err == nil
}

// largestFirst orders idx (indexes into files) by size, largest first:
// the database alone is about half of the bytes, and left to the end it
// would be one stream running while the other idles.
func largestFirst(files []snapshot.File, idx []int) {
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(files[b].Size, files[a].Size) })
}

// uploadStreams is how many files a push uploads at once: encryption,
// hashing and SSH's own cipher keep a core busy per stream, and two
// streams keep both cores of a small server busy where one left one idle
// (bench/push.sh).
const uploadStreams = 2

// uploadAll runs up(i) for every i of idx, uploadStreams at a time, and
// returns the first error (the others are then cancelled).
func (p *pusher) uploadAll(ctx context.Context, idx []int, up func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(uploadStreams, len(idx)) {
		wg.Go(func() {
			for i := range next {
				if err := up(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, i := range idx {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// upload sends one local file (encrypting it when the session does) to
// dst.part, checks its size there and the local file's digest, and returns
// the size and SHA-256 of what the remote holds. The file is not synced:
// the caller hands it to the syncer, which syncs it and renames it to dst.
func (p *pusher) upload(ctx context.Context, sess *session, src, dst, wantPlain string) (durable.Digest, error) {
	rfs := p.remote.FS
	in, err := p.cfg.FS.Open(src)
	if err != nil {
		return durable.Digest{}, err
	}
	defer in.Close()
	plainHash := sha256.New()
	plain := io.TeeReader(&ctxReader{ctx: ctx, r: in}, plainHash)
	var r io.Reader = plain
	if sess.enc != nil {
		pw := newAheadPipe()
		pr := pw
		go func() {
			w, err := sess.enc.Encrypt(pw)
			if err == nil {
				_, err = durable.Copy(w, plain)
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
			pw.CloseWithError(err)
		}()
		defer pr.Close()
		r = pr
	}
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h), progress: func(n int64) { p.progress(n); progress.Add(ctx, n) }}
	part := dst + partSuffix
	_ = rfs.Remove(part)
	n, err := writeStream(rfs, part, cr, false)
	if err != nil {
		_ = rfs.Remove(part)
		return durable.Digest{}, fmt.Errorf("upload %s: %w", filepath.Base(dst), err)
	}
	if fi, err := rfs.Stat(part); err != nil || fi.Size() != n {
		_ = rfs.Remove(part)
		return durable.Digest{}, fmt.Errorf("upload %s: the target holds a different size than was sent; push again", filepath.Base(dst))
	}
	if wantPlain != "" && hex.EncodeToString(plainHash.Sum(nil)) != wantPlain {
		_ = rfs.Remove(part)
		return durable.Digest{}, fmt.Errorf("the local file %s does not match its manifest (sha256 differs): not pushing this snapshot; run atocore-backup validate", src)
	}
	return durable.Digest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// progress reports n more bytes sent; uploads run at once, the callback
// is called by one at a time.
func (p *pusher) progress(n int64) {
	if p.opts.Progress != nil {
		p.progressMu.Lock()
		p.opts.Progress(n)
		p.progressMu.Unlock()
	}
}

// writeStream writes r to the new file name, and syncs it when asked,
// through the target's fast stream path when it has one.
func writeStream(rfs afero.Fs, name string, r io.Reader, sync bool) (int64, error) {
	if sw, ok := rfs.(unsyncedStreamWriter); ok && !sync {
		return sw.WriteFileFromNoSync(name, r, 0o600)
	}
	if sw, ok := rfs.(streamWriter); ok {
		return sw.WriteFileFrom(name, r, 0o600)
	}
	f, err := rfs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := durable.Copy(f, r)
	if err == nil && sync {
		err = syncOpen(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// syncOpen syncs f; a target that cannot sync is not an error.
func syncOpen(f afero.File) error {
	if err := f.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

// syncFile opens name on the target and syncs it.
func syncFile(rfs afero.Fs, name string) error {
	f, err := rfs.Open(name)
	if err != nil {
		return err
	}
	err = syncOpen(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncer finishes the uploads on a goroutine of its own: it syncs each
// uploaded file, renames it into place and notes it, in the order the
// uploads ended, and saves the journal once for all the files that were
// waiting together. An fsync waits for the target's disk; done here, it
// no longer holds up the upload stream that wrote the file (on SFTP it
// runs on the main session, not on the upload's).
type syncer struct {
	rfs  afero.Fs
	save func() error // writes the journal
	jobs chan syncJob
	done chan struct{}
	once sync.Once

	mu  sync.Mutex
	err error // the first failure
}

type syncJob struct {
	part, dst string
	then      func() // after the rename: note the file for the journal
}

// syncBatch caps how many files one journal write covers.
const syncBatch = 64

func startSyncer(rfs afero.Fs, capacity int, save func() error) *syncer {
	s := &syncer{rfs: rfs, save: save, jobs: make(chan syncJob, max(capacity, 1)), done: make(chan struct{})}
	go s.run()
	return s
}

// submit queues part for syncing and renaming to dst, then for then. It
// returns the syncer's first failure, if any, instead: the upload stream
// then stops.
func (s *syncer) submit(part, dst string, then func()) error {
	if err := s.failed(); err != nil {
		return err
	}
	s.jobs <- syncJob{part: part, dst: dst, then: then}
	return nil
}

func (s *syncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *syncer) run() {
	defer close(s.done)
	for j := range s.jobs {
		batch := s.waiting(j)
		if s.failed() != nil {
			continue // the push is failing: leave the rest for the next run
		}
		// The files put in place are saved to the journal even when a
		// later one fails: the next push resumes from them.
		var err error
		placed := 0
		for _, j := range batch {
			if err = syncFile(s.rfs, j.part); err == nil {
				err = renameReplace(s.rfs, j.part, j.dst)
			}
			if err != nil {
				err = fmt.Errorf("upload %s: %w", filepath.Base(j.dst), err)
				break
			}
			j.then()
			placed++
		}
		if placed > 0 {
			if serr := s.save(); err == nil {
				err = serr
			}
		}
		if err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
		}
	}
}

// waiting returns first and the jobs queued behind it, up to syncBatch.
func (s *syncer) waiting(first syncJob) []syncJob {
	batch := []syncJob{first}
	for len(batch) < syncBatch {
		select {
		case next, ok := <-s.jobs:
			if !ok {
				return batch
			}
			batch = append(batch, next)
		default:
			return batch
		}
	}
	return batch
}

// stop waits for the queued files and returns the first failure. Call it
// once no upload is running; later calls only return the failure.
func (s *syncer) stop() error {
	s.once.Do(func() { close(s.jobs) })
	<-s.done
	return s.failed()
}

// renameReplace renames old to new, replacing new: POSIX rename where the
// target offers it (SFTP's plain rename refuses an existing name).
func renameReplace(rfs afero.Fs, oldname, newname string) error {
	if pr, ok := rfs.(interface{ PosixRename(string, string) error }); ok {
		return pr.PosixRename(oldname, newname)
	}
	_ = rfs.Remove(newname)
	return rfs.Rename(oldname, newname)
}

func writeRemote(rfs afero.Fs, name string, data []byte) error {
	tmp := name + partSuffix
	_ = rfs.Remove(tmp) // a push cut off while writing it left it
	if _, err := writeStream(rfs, tmp, bytesReader(data), true); err != nil {
		_ = rfs.Remove(tmp)
		return fmt.Errorf("write %s on the target: %w", name, err)
	}
	return renameReplace(rfs, tmp, name)
}

// maxJournalSize bounds a push journal: a few hundred bytes per file.
const maxJournalSize = 64 << 20

// readLocalJournal reads this machine's record of an interrupted upload;
// an empty journal when there is none or it cannot be read.
func readLocalJournal(fsys afero.Fs, name string) *journal {
	jr := &journal{Files: map[string]snapshot.File{}}
	data, err := durable.ReadFileNoLinks(fsys, filepath.Dir(name), filepath.Base(name), maxJournalSize)
	if err != nil || json.Unmarshal(data, jr) != nil || jr.Files == nil {
		return &journal{Files: map[string]snapshot.File{}}
	}
	return jr
}

// writeLocalJournal records jr durably beside the push state.
func writeLocalJournal(fsys afero.Fs, name string, jr *journal) error {
	data, err := json.Marshal(jr)
	if err != nil {
		return err
	}
	if err := fsys.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(fsys, name, data, 0o600)
}

func writeJournal(rfs afero.Fs, incoming string, jr *journal) error {
	data, err := json.Marshal(jr)
	if err != nil {
		return err
	}
	return writeRemote(rfs, filepath.Join(incoming, journalFile), data)
}

// verifyIncoming checks that the incoming directory holds exactly the
// expected files at their sizes (plus key file, manifest and journal).
func verifyIncoming(rfs afero.Fs, incoming string, files []snapshot.File, hasKey, encrypted bool) error {
	want := map[string]int64{}
	for _, f := range files {
		want[f.Path] = f.Size
	}
	extra := map[string]bool{journalFile: true, StatementFile: true, SignatureFile: true}
	if hasKey {
		extra[encryptKeyFile] = true
	}
	if encrypted {
		extra[RemoteManifestFile] = true
	}
	seen := 0
	err := afero.Walk(rfs, incoming, func(p string, info fs.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(incoming, p)
		rel = filepath.ToSlash(rel)
		size, ok := want[rel]
		switch {
		case extra[rel]:
			return nil
		case path.Ext(rel) == partSuffix:
			return rfs.Remove(p) // an abandoned partial upload
		case !ok:
			return fmt.Errorf("the target's %s holds an unexpected file %s", incoming, rel)
		case info.Size() != size:
			return fmt.Errorf("the target's copy of %s is %d bytes, %d were sent; push again", rel, info.Size(), size)
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if seen != len(want) {
		return fmt.Errorf("the target's %s lacks %d file(s); push again", incoming, len(want)-seen)
	}
	return nil
}

func syncRemoteDir(rfs afero.Fs, dir string) error {
	if ds, ok := rfs.(interface{ SyncDir(string) error }); ok {
		return ds.SyncDir(dir)
	}
	return durable.SyncDir(rfs, dir)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil {
		c.progress(int64(n))
	}
	return n, err
}
