package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

var errPastBound = errors.New("wrote past the rebuild's bound")

type boundFs struct {
	afero.Fs
	n, max int64
}

type boundFile struct {
	afero.File
	fs *boundFs
}

func (f boundFile) Write(p []byte) (int, error) {
	if atomic.AddInt64(&f.fs.n, int64(len(p))) > f.fs.max {
		return 0, errPastBound
	}
	return f.File.Write(p)
}

func (b *boundFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := b.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return boundFile{File: f, fs: b}, nil
}

func (b *boundFs) Create(name string) (afero.File, error) {
	return b.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// A hostile target answers a pull of a (signed) delta with an unsigned
// base snapshot whose whole copy it lists at any size: rebuild copies it
// all, past the bound it applies to local bases and to every delta.
func TestRebuildBoundsTheTargetsBase(t *testing.T) {
	rs, ids := keys(t)
	remote := osRemote(t)
	base, top := "20261201T020000Z", "20261202T020000Z"
	const size = 4096 // the database the manifest (signed) says the delta makes
	bound := int64(4*size + 64<<20)
	dir := snapshot.Dir(remote.Root, base)
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "db", "atocore.db.age"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w, err := rs.Encrypt(io.MultiWriter(out, h))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(w, zeros{}, bound+1<<20); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := out.Stat()
	out.Close()
	rm := RemoteManifest{FormatVersion: 1, Stamp: base, Encrypted: true, Recipients: []string{},
		Files: []snapshot.File{{Path: "db/atocore.db.age", Size: fi.Size(), SHA256: hex.EncodeToString(h.Sum(nil))}}}
	data, _ := json.Marshal(rm)
	if err := os.WriteFile(filepath.Join(dir, RemoteManifestFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(snapshot.Dir(remote.Root, top), 0o700); err != nil {
		t.Fatal(err)
	}
	l := link{stamp: top, dir: snapshot.Dir(remote.Root, top), dec: ids,
		file: snapshot.File{Path: "db/atocore.db.from-" + base + ".ltx.age", Size: 100}}
	local := &boundFs{Fs: afero.NewOsFs(), max: bound}
	l.size = size
	_, err = rebuild(context.Background(), remote, Opening{Identities: ids}, nil, l, local, filepath.Join(t.TempDir(), "db", "atocore.db"))
	if errors.Is(err, errPastBound) {
		t.Fatalf("rebuild wrote more than %d bytes for a %d-byte database: %v", bound, size, err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
