package offsite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/validate"
)

// Remote is a place that holds snapshots/ on its own filesystem.
type Remote struct {
	FS   afero.Fs
	Root string
	// URL names the remote in messages and results, without secrets.
	URL string
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
	// ObjectLock locks every object of each pushed snapshot against
	// deletion and overwrite for its days (S3 Object Lock retention); the
	// target must offer target.RetentionLocker.
	ObjectLock ObjectLock
	// DeltaChain is how many page deltas may follow one whole copy of the
	// database on the target (0 means DefaultDeltaChain, negative none).
	// An encrypted push sends the database as the pages that changed since
	// the previous pushed snapshot, when that snapshot is still local to
	// compare with and the delta weighs less than half the file; a pull
	// rebuilds it.
	DeltaChain int
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
	// BytesResumed are bytes of files in parts that a cut-off push had
	// already uploaded and that this one continued without sending them
	// again (target.PartResumer); they are not in BytesSent.
	BytesResumed int64 `json:"bytes_resumed,omitempty"`
	Encrypted    bool  `json:"encrypted"`
	// Sequence is the number of this push to the target (its statement's).
	Sequence uint64 `json:"sequence"`
	// Signed says the statement is signed.
	Signed bool `json:"signed"`
	// Warnings say what the push did differently from usual (a new
	// session key because the target's key file was damaged).
	Warnings []string `json:"warnings,omitempty"`
	// PageDeltas lists the files sent as the pages that changed.
	PageDeltas []DeltaInfo `json:"page_deltas,omitempty"`
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
func pushRemote(ctx context.Context, cfg backup.Config, remote Remote, opts PushOptions) (*PushResult, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err == nil {
		err = opts.ObjectLock.check(remote.FS, remote.URL)
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
	cleanDeltas(cfg.FS, cfg.BackupDir)
	if err := p.startChain(ctx); err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if !exclusiveCreates(remote.FS, remote.Root) {
		res.Warnings = append(res.Warnings, WarnClaimNotExclusive+": the target ignores exclusive creates (rclone serve sftp does), so the claim of a stamp cannot stop a second host that starts pushing it at the same moment: both upload, each into its own incoming directory, one snapshot is kept and the other push fails (stamp taken)")
	}
	p.forgetGoneJournals(local)
	p.putBackAside()
	forgetOwnClaims(remote.FS, remote.Root, claimHolder(cfg.BackupDir))
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
			if held, err := heldByLock(ctx, remote.FS, snapshot.Dir(remote.Root, s.Stamp), time.Now()); err == nil && held != "" {
				// Locked: it can be neither moved aside nor replaced until
				// the lock ends. The newer snapshots are still pushed.
				res.Warnings = append(res.Warnings, fmt.Sprintf("damaged_but_locked: %s on the target is not as its statement says (%s), and %s: it is repaired once the lock ends", s.Stamp, why, held))
				res.Present = append(res.Present, s.Stamp)
				continue
			}
			if aside, err = p.setAside(s.Stamp); err != nil {
				return res, fmt.Errorf("push %s to %s: %w", s.Stamp, remote.URL, err)
			}
			res.Repaired = append(res.Repaired, Repair{Stamp: s.Stamp, Reason: why})
		}
		p.noLinks = act == repairIt // its old files are suspect: send every byte
		info, err := p.push(ctx, s)
		if err != nil {
			if aside != "" && !target.IsObjectStore(remote.FS) {
				// The damaged copy goes back where it was: a failed
				// repair must not make a snapshot look pruned. (On
				// object storage the cut-off replacement stays, to be
				// resumed, and the copy aside with it: putBackAside.)
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
	// stored are the composite checksums computed while uploading, by
	// remote path (noteStored; under progressMu).
	stored map[string]string
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
	objects := target.IsObjectStore(rfs)
	var incoming string
	if objects {
		// Object storage cannot rename a directory (it would copy every
		// byte on the server): the files go straight to the snapshot's
		// place, which readers ignore until its statement is there
		// (placeObjects).
		incoming, err = snapshot.Dir(root, s.Stamp), rfs.MkdirAll(snapshot.Dir(root, s.Stamp), 0o700)
	} else {
		incoming, err = ownIncoming(rfs, root, s.Stamp, holder)
	}
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
		// Other keys: nothing reusable. The uploads in parts it left are
		// ended, so that the target does not keep (and bill) their parts.
		if pr, ok := rfs.(target.PartResumer); ok {
			for _, u := range jr.Uploads {
				if u.Target == p.remote.URL {
					_ = pr.AbortUpload(filepath.Join(incoming, filepath.FromSlash(u.Path)), u.ID)
				}
			}
		}
		jr = &journal{KeyID: sess.keyID, Files: map[string]snapshot.File{}}
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
	suffix := ""
	if sess.enc != nil {
		suffix = sess.enc.Suffix()
	}
	// Each file's name on the target: its own, encrypted, or that of the
	// page delta the previous pushed snapshot holds it as (linked or
	// copied under that name, its base unchanged), or sends it as
	// (deltas[i]). Fixed before the uploads start.
	names := make([]string, len(files))
	deltas := map[int]*deltaSend{}
	for i, f := range files {
		names[i] = f.Path + suffix
		if held := heldAs(prev, f, s.Stamp); held != "" && p.chainIntact(prev, f.SHA256, held) {
			names[i] = held
		}
	}
	remoteName := func(i int) string { return names[i] }
	defer func() {
		for _, d := range deltas {
			_ = p.cfg.FS.Remove(d.src)
		}
	}()
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
			if chain := chainOf(prev, deltas[i], f, done.Path); len(chain) > 0 {
				if entry.Chain == nil {
					entry.Chain = map[string][]string{}
				}
				entry.Chain[f.SHA256] = chain
			}
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
	// recordUpload keeps an upload in parts in the local journal as soon as
	// it starts (before its first part), so that a push cut off continues
	// it, and forgets it (nil) as soon as it is done, so that its key is
	// not kept longer than the upload needs it.
	recordUpload := func(rel string, u *partUpload) error {
		mu.Lock()
		defer mu.Unlock()
		k := uploadKey(p.remote.URL, rel)
		if u == nil {
			if _, ok := jr.Uploads[k]; !ok {
				return nil
			}
			delete(jr.Uploads, k)
		} else {
			if jr.Uploads == nil {
				jr.Uploads = map[string]partUpload{}
			}
			u.Target, u.Path = p.remote.URL, rel
			jr.Uploads[k] = *u
		}
		return writeLocalJournal(p.cfg.FS, localJournal, jr)
	}
	noted := 0
	// On a target that copies on the server instead of linking (object
	// storage), each unchanged file is a copy that takes the server as
	// long as writing the bytes: the copies run beside the uploads, a few
	// at once, rather than all before them one by one.
	_, linker := rfs.(target.Linker)
	_, copier := rfs.(target.ServerCopier)
	copyBeside := copier && !linker && !p.noLinks
	var copies []int
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rel := remoteName(i)
		dst := filepath.Join(incoming, filepath.FromSlash(rel))
		resumed := resumable(ctx, rfs, dst, jr.Files[rel]) // (each check reads the target's copy)
		if !resumed && heldAs(prev, f, s.Stamp) == "" && deltaFile(f) {
			d, err := p.planDelta(ctx, s, f, prev, suffix)
			if err != nil {
				return nil, err
			}
			if d != nil {
				names[i], deltas[i] = d.rel, d
				rel = d.rel
				dst = filepath.Join(incoming, filepath.FromSlash(rel))
				resumed = resumable(ctx, rfs, dst, jr.Files[rel])
			}
		}
		var done snapshot.File
		switch {
		case resumed:
			done = jr.Files[rel]
			info.Resumed++
		case copyBeside && prev != nil && f.SHA256 != "" && prev.Files[f.SHA256].Path != "":
			// Its directory made here, one at a time, not by the copies.
			if err := rfs.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return nil, fmt.Errorf("create %s on the target: %w", filepath.Dir(dst), err)
			}
			copies = append(copies, i)
			continue
		case p.link(prev, f, dst):
			done = prev.Files[f.SHA256]
			done.Path = rel
			info.Linked++
		default:
			if deltas[i] == nil {
				// Sent whole, under its own name (not that of a delta its
				// link would have kept).
				names[i] = f.Path + suffix
				dst = filepath.Join(incoming, filepath.FromSlash(names[i]))
			}
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
	sy := startSyncer(rfs, len(uploads)+len(copies), saveJournal)
	defer sy.stop()
	upload := func(ctx context.Context, i int) error {
		f := files[i]
		rel := remoteName(i)
		dst := filepath.Join(incoming, filepath.FromSlash(rel))
		mu.Lock()
		var from *partUpload
		if u, ok := jr.Uploads[uploadKey(p.remote.URL, rel)]; ok {
			from = &u
		}
		mu.Unlock()
		src, plain := filepath.Join(s.Path, filepath.FromSlash(f.Path)), f.SHA256
		if d := deltas[i]; d != nil {
			src, plain = d.src, d.plain
		}
		d, kept, err := p.upload(ctx, sess, src, dst, plain, &partResume{from: from, record: func(u *partUpload) error {
			return recordUpload(rel, u)
		}})
		if err != nil {
			return err
		}
		return sy.submit(partName(rfs, dst), dst, func() {
			note(i, snapshot.File{Path: rel, Size: d.Size, SHA256: d.SHA256})
			mu.Lock()
			info.Sent++
			info.BytesSent += d.Size - kept
			info.BytesResumed += kept
			if dl := deltas[i]; dl != nil {
				info.PageDeltas = append(info.PageDeltas, dl.info)
			}
			mu.Unlock()
		})
	}
	// The server-side copies, beside the uploads; a copy that fails (its
	// source damaged or gone) is uploaded after them.
	copyCtx, stopCopies := context.WithCancel(ctx)
	defer stopCopies()
	copied := make(chan []int, 1)
	go func() {
		var failed []int
		var fmu sync.Mutex
		_ = p.uploadAllN(copyCtx, copies, copyStreams, func(ctx context.Context, i int) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f := files[i]
			rel := remoteName(i)
			if p.link(prev, f, filepath.Join(incoming, filepath.FromSlash(rel))) {
				done := prev.Files[f.SHA256]
				done.Path = rel
				note(i, done)
				mu.Lock()
				info.Linked++
				mu.Unlock()
				return nil
			}
			fmu.Lock()
			failed = append(failed, i)
			fmu.Unlock()
			return nil
		})
		copied <- failed
	}()
	err = p.uploadAll(ctx, uploads, upload)
	if err != nil {
		stopCopies()
	}
	failed := <-copied
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && len(copies) > len(failed) {
		err = saveJournal()
	}
	if err == nil && len(failed) > 0 {
		for _, i := range failed {
			names[i] = files[i].Path + suffix // sent whole (the copies are over)
			progress.Plan(ctx, files[i].Size)
			if err = rfs.MkdirAll(filepath.Dir(filepath.Join(incoming, filepath.FromSlash(remoteName(i)))), 0o700); err != nil {
				break
			}
		}
		if err == nil {
			largestFirst(files, failed)
			err = p.uploadAll(ctx, failed, upload)
		}
	}
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
	var sg *signed
	if objects {
		// Checked, unlocked bookkeeping removed and locked before the
		// statement is written: its arrival makes the snapshot.
		if err := verifyIncoming(rfs, incoming, remoteFiles, sess.keyFile != nil, sess.enc != nil); err != nil {
			return nil, err
		}
		// (An earlier version wrote a journal here too.)
		if err := rfs.Remove(filepath.Join(incoming, journalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if sg, err = placeObjects(rfs, incoming, p.opts.ObjectLock, time.Now(), func() (*signed, error) {
			return p.sign(incoming, s, files, remoteFiles, sess.keyFile, rmData, sess.enc != nil)
		}); err != nil {
			return nil, err
		}
		info.Sequence, info.Signed = sg.st.Sequence, p.opts.Signer != nil
	} else {
		if sg, err = p.sign(incoming, s, files, remoteFiles, sess.keyFile, rmData, sess.enc != nil); err != nil {
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
	if b := baseGone(rfs, root, paths(remoteFiles)); b != "" {
		// Placed (and its sequence recorded), and a prune removed its
		// base meanwhile: the next push sends it again whole (decide:
		// baseGone).
		return nil, fmt.Errorf("snapshot %s, which its database is a page delta on, was removed from the target during the push (a remote prune?): push again, and it is sent whole", b)
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

// link makes dst a server-side hardlink to the previous pushed snapshot's
// copy of a file with the same plaintext digest, under the same keys, and
// checks that the link is there (sameFile) before the caller journals it.
// A target whose links are not real (it answers success and makes none,
// as rclone serve sftp 1.60 does) gets no more links for the rest of the
// push: each unchanged file is uploaded instead, and the push warns once.
// On a target without hard links that copies on the server
// (target.ServerCopier: object storage) dst is a server-side copy.
func (p *pusher) link(prev *stateEntry, f snapshot.File, dst string) bool {
	if p.noLinks || p.linksFake || prev == nil || f.SHA256 == "" {
		return false
	}
	old, ok := prev.Files[f.SHA256]
	if !ok || !strings.HasSuffix(filepath.ToSlash(dst), "/"+f.Path+strings.TrimPrefix(old.Path, fileOf(old.Path))) {
		// dst is another form of the file than old (whole, or a delta
		// on some base): a link would give it bytes its name does not say.
		return false
	}
	src := filepath.Join(snapshot.Dir(p.remote.Root, prev.Stamp), filepath.FromSlash(old.Path))
	if fi, err := p.remote.FS.Stat(src); err != nil || fi.Size() != old.Size {
		return false
	}
	if err := p.remote.FS.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return false
	}
	if _, links := p.remote.FS.(target.Linker); !links {
		if c, ok := p.remote.FS.(target.ServerCopier); ok {
			return serverCopy(c, p.remote.FS, src, dst, old)
		}
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

// serverCopy is link's way on a target without hard links that copies on
// the server (object storage: CopyObject): dst is then a copy of src made
// without sending its bytes, checked to be of its size.
// Where the server keeps the copy's SHA-256 (one piece), it must be the
// digest the source was pushed with: a source damaged on the target is
// not copied on, the file is uploaded again instead.
func serverCopy(c target.ServerCopier, rfs afero.Fs, src, dst string, old snapshot.File) bool {
	err := c.CopyFile(src, dst)
	if errors.Is(err, fs.ErrExist) {
		// A push cut off after it copied or uploaded dst (and before its
		// journal said so) left it: replaced, once.
		if rerr := rfs.Remove(dst); rerr == nil {
			err = c.CopyFile(src, dst)
		}
	}
	if err != nil {
		_ = rfs.Remove(dst)
		return false
	}
	// On object storage the copy's size is checked with every other file's
	// in one listing before the statement (verifyIncoming).
	if !target.IsObjectStore(rfs) {
		if fi, err := lstat(rfs, dst); err != nil || !fi.Mode().IsRegular() || fi.Size() != old.Size {
			_ = rfs.Remove(dst)
			return false
		}
	}
	if cr, ok := rfs.(target.ChecksumReporter); ok {
		if sum, parts, err := cr.StoredSHA256(dst); err == nil && parts == 0 && storedText(sum, 0) != old.SHA256 {
			_ = rfs.Remove(dst)
			return false
		}
	}
	return true
}

// verifyIncoming checks that the incoming directory holds exactly the
// expected files at their sizes (plus key file, manifest and journal).
func verifyIncoming(rfs afero.Fs, incoming string, files []snapshot.File, hasKey, encrypted bool) error {
	want := map[string]int64{}
	sending := map[string]bool{} // the snapshot's files, by their own names
	for _, f := range files {
		want[f.Path] = f.Size
		sending[fileOf(f.Path)] = true
	}
	extra := map[string]bool{journalFile: true, StatementFile: true, SignatureFile: true}
	if hasKey {
		extra[encryptKeyFile] = true
	}
	if encrypted {
		extra[RemoteManifestFile] = true
	}
	seen := map[string]bool{} // a name a listing repeats counts once
	err := walkFiles(rfs, incoming, func(p string, info fs.FileInfo, err error) error {
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
		case !ok && sending[fileOf(rel)]:
			// A copy of one of the files under another name (whole, or a
			// delta on another base) that a push cut off after it wrote
			// it left: this push sends that file otherwise.
			return rfs.Remove(p)
		case !ok:
			return fmt.Errorf("the target's %s holds an unexpected file %s", incoming, rel)
		case info.Size() != size:
			return fmt.Errorf("the target's copy of %s is %d bytes, %d were sent; push again", rel, info.Size(), size)
		}
		seen[rel] = true
		return nil
	})
	if err != nil {
		return err
	}
	if len(seen) != len(want) {
		return fmt.Errorf("the target's %s lacks %d file(s); push again", incoming, len(want)-len(seen))
	}
	return nil
}
