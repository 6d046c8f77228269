package offsite

// Uploads: files sent to the target, several at once, each through the
// fastest path the target offers, counted and cancellable.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/ctxio"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/target"
)

// streamWriter is the optional fast upload path of a target filesystem
// (SFTP: concurrent writes for streams of unknown length).
type streamWriter interface {
	WriteFileFrom(name string, r io.Reader, perm os.FileMode) (int64, error)
}

// unsyncedStreamWriter is the same path leaving the fsync to the caller.
type unsyncedStreamWriter interface {
	WriteFileFromNoSync(name string, r io.Reader, perm os.FileMode) (int64, error)
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
	return p.uploadAllN(ctx, idx, uploadStreams, up)
}

// copyStreams is how many server-side copies a push runs at once: each is
// one request that waits for the server to copy the bytes.
const copyStreams = 4

// uploadAllN is uploadAll with n at a time.
func (p *pusher) uploadAllN(ctx context.Context, idx []int, n int, up func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, len(idx)) {
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

// partResume lets upload continue an upload in parts
// (target.PartResumer): from is the one a cut-off push left for this file
// (nil: none), record keeps durably the one this upload starts, or
// forgets it (nil) once it is done.
type partResume struct {
	from   *partUpload
	record func(*partUpload) error
}

// upload sends one local file (encrypting it when the session does) to
// dst.part, checks its size there and the local file's digest, and returns
// the size and SHA-256 of what the remote holds, and how many of those
// bytes were parts an earlier, cut-off upload had left on the target
// (kept, not sent again). The file is not synced: the caller hands it to
// the syncer, which syncs it and renames it to dst.
func (p *pusher) upload(ctx context.Context, sess *session, src, dst, wantPlain string, pr *partResume) (durable.Digest, int64, error) {
	rfs := p.remote.FS
	in, err := p.cfg.FS.Open(src)
	if err != nil {
		return durable.Digest{}, 0, err
	}
	defer in.Close()
	part := partName(rfs, dst)
	rs := p.resumeParts(ctx, sess, in, src, part, wantPlain, pr)
	plainHash := sha256.New()
	plain := io.TeeReader(ctxio.NewReader(ctx, in), plainHash)
	var r io.Reader = plain
	if sess.enc != nil {
		pw := newAheadPipe()
		pr := pw
		go func() {
			var w io.WriteCloser
			var err error
			if rs != nil && rs.key != nil {
				w, err = encrypt.EncryptWithKey(pw, rs.key)
			} else {
				w, err = sess.enc.Encrypt(pw)
			}
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
	var hw io.Writer = h
	var composite *compositeHash
	if ps, ok := rfs.(partSizer); ok {
		if _, ok := rfs.(target.ChecksumReporter); ok && ps.UploadPartSize() > 0 {
			composite = newCompositeHash(ps.UploadPartSize())
			hw = io.MultiWriter(h, composite)
		}
	}
	cr := &countingReader{r: io.TeeReader(r, hw), progress: func(n int64) { p.progress(n); progress.Add(ctx, n) }}
	objects := target.IsObjectStore(rfs)
	// A push cut off while writing it, or (on object storage, where the
	// upload goes to dst itself) after it was written but before the
	// journal said so, left it.
	_ = rfs.Remove(part)
	var n, kept int64
	if rs != nil {
		n, kept, err = rs.resumer.WriteFileResumable(part, cr, 0o600, rs.id, rs.started)
		if errors.Is(err, target.ErrPartsDiffer) && rs.id != "" {
			// The parts on the target are not this file's: never continued
			// under its key. Aborted, and the file sent whole anew.
			_ = rs.resumer.AbortUpload(part, rs.id)
			in.Close()
			return p.upload(ctx, sess, src, dst, wantPlain, &partResume{record: pr.record})
		}
		if err == nil {
			err = pr.record(nil)
		}
	} else {
		n, err = writeStream(rfs, part, cr, false)
	}
	if err != nil {
		_ = rfs.Remove(part)
		return durable.Digest{}, 0, fmt.Errorf("upload %s: %w", filepath.Base(dst), err)
	}
	// The size the target holds is checked here, or, on object storage,
	// for every file at once in one listing before the statement is
	// written (verifyIncoming), instead of a request per file.
	if !objects {
		if fi, err := rfs.Stat(part); err != nil || fi.Size() != n {
			_ = rfs.Remove(part)
			return durable.Digest{}, 0, fmt.Errorf("upload %s: the target holds a different size than was sent; push again", filepath.Base(dst))
		}
	}
	if wantPlain != "" && hex.EncodeToString(plainHash.Sum(nil)) != wantPlain {
		_ = rfs.Remove(part)
		return durable.Digest{}, 0, fmt.Errorf("the local file %s does not match its manifest (sha256 differs): not pushing this snapshot; run atocore-backup validate", src)
	}
	if composite != nil {
		p.noteStored(dst, composite.stored())
	}
	return durable.Digest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, kept, nil
}

// resumable upload in parts: how upload continues or starts one.
type resumableUpload struct {
	resumer target.PartResumer
	id      string           // the upload continued, "" for a new one
	key     *encrypt.FileKey // nil for a plaintext push
	started func(string) error
}

// resumeParts decides how a file is uploaded where the target keeps the
// parts of a cut-off upload (target.PartResumer): nil for the usual way
// (a target without, a file of one part, a snapshot without digests, an
// encryptor that cannot repeat an encryption), else the upload to
// continue, with the key that gives the same parts again, or a new one
// under a new key, recorded before its first part is sent.
//
// A key and nonce are only ever used for the manifest's plaintext: before
// an upload is started or continued, the local file is hashed and must
// match the manifest's digest (and, to continue, the digest recorded with
// the upload), else the file goes the usual way (whose own check then
// refuses it) and an old upload is aborted. Two plaintexts under one key
// and nonce would share a keystream; a cut-off attempt never reaches the
// check at the end of its stream, so it is made before. (A part the
// target holds that is not the one to send fails the upload:
// target.ErrPartsDiffer.)
func (p *pusher) resumeParts(ctx context.Context, sess *session, in afero.File, src, part, wantPlain string, pr *partResume) *resumableUpload {
	resumer, ok := p.remote.FS.(target.PartResumer)
	ps, sized := p.remote.FS.(partSizer)
	if !ok || !sized || pr == nil || wantPlain == "" {
		return nil
	}
	if fi, err := in.Stat(); err != nil || fi.Size() <= ps.UploadPartSize() {
		return nil
	}
	keyed, isKeyed := sess.enc.(encrypt.KeyedEncryptor)
	if sess.enc != nil && !isKeyed {
		return nil
	}
	d, err := durable.HashFile(ctx, p.cfg.FS, src)
	if err != nil || d.SHA256 != wantPlain {
		if pr.from != nil {
			_ = resumer.AbortUpload(part, pr.from.ID)
		}
		return nil
	}
	rs := &resumableUpload{resumer: resumer}
	if old := pr.from; old != nil {
		if old.Plain == wantPlain && (len(old.Key) > 0) == isKeyed {
			rs.id = old.ID
			if isKeyed {
				rs.key = &encrypt.FileKey{Header: old.Header, Key: old.Key, Nonce: old.Nonce}
			}
		} else {
			_ = resumer.AbortUpload(part, old.ID)
		}
	}
	if isKeyed && rs.key == nil {
		k, err := keyed.NewFileKey()
		if err != nil {
			return nil // an encryptor that cannot (labelled recipients): the usual way
		}
		rs.key = k
	}
	rs.started = func(id string) error {
		u := &partUpload{ID: id, Plain: wantPlain}
		if rs.key != nil {
			u.Header, u.Key, u.Nonce = rs.key.Header, rs.key.Key, rs.key.Nonce
		}
		return pr.record(u)
	}
	return rs
}

// noteStored records the composite checksum this push computed for the
// file uploaded to dst ("" for one of a single part).
func (p *pusher) noteStored(dst, sum string) {
	p.progressMu.Lock()
	defer p.progressMu.Unlock()
	if p.stored == nil {
		p.stored = map[string]string{}
	}
	p.stored[dst] = sum
}

// ownStored is what noteStored recorded, by path below the snapshot's
// upload directory incoming.
func (p *pusher) ownStored(incoming string) map[string]string {
	p.progressMu.Lock()
	defer p.progressMu.Unlock()
	out := map[string]string{}
	for dst, sum := range p.stored {
		if rel, err := filepath.Rel(incoming, dst); err == nil && sum != "" {
			out[filepath.ToSlash(rel)] = sum
		}
	}
	return out
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

func writeRemote(rfs afero.Fs, name string, data []byte) error {
	if target.IsObjectStore(rfs) {
		// A push resumed after its objects were locked finds them as it
		// wrote them: the same bytes are left as they are (a rewrite
		// would be refused until the lock ends).
		if old, err := readBounded(rfs, name, int64(len(data))); err == nil && bytes.Equal(old, data) {
			return nil
		}
	}
	tmp := partName(rfs, name)
	_ = rfs.Remove(tmp) // a push cut off while writing it left it (or, on object storage, other bytes)
	if _, err := writeStream(rfs, tmp, bytesReader(data), true); err != nil {
		_ = rfs.Remove(tmp)
		return fmt.Errorf("write %s on the target: %w", name, err)
	}
	if tmp == name {
		return nil
	}
	return renameReplace(rfs, tmp, name)
}

// partName is where a file is uploaded before it is renamed to name:
// NAME.part, so that a cut-off upload is never taken for the file. On
// object storage (target.ObjectStore) an object appears only once its
// upload is complete, and a rename is a server-side copy of every byte:
// the upload goes to name itself.
func partName(rfs afero.Fs, name string) string {
	if target.IsObjectStore(rfs) {
		return name
	}
	return name + partSuffix
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
