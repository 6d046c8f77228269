package offsite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// readCountingFs counts the bytes read through it.
type readCountingFs struct {
	afero.Fs
	read atomic.Int64
}

type readCountingFile struct {
	afero.File
	n *atomic.Int64
}

func (f readCountingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.n.Add(int64(n))
	return n, err
}

func (f readCountingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

func (c *readCountingFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := c.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return readCountingFile{File: f, n: &c.read}, nil
}

func (c *readCountingFs) Open(name string) (afero.File, error) {
	return c.OpenFile(name, os.O_RDONLY, 0)
}

// A hostile target stuffed with snapshots whose statements are as large
// as allowed: a signature by a key the allowed signers do not list is
// refused before its statement is read; statements of a listed key (a
// copied signature) are read up to a total per command, then the command
// stops with one line naming the limit; and a target with more snapshot
// directories than the tool reads is refused before reading any. Before,
// every statement and remote manifest was read in full for every entry.
func TestHostileTargetWorkIsBounded(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	stranger, _ := signer(t)
	remote := osRemote(t)
	m := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	strangerSig, err := sshsig.Sign(stranger, SignatureNamespace, []byte("something else"))
	if err != nil {
		t.Fatal(err)
	}
	const planted = 40
	var dirs []string
	for i := range planted {
		stamp := time.Date(2026, 6, 1, 0, 0, i, 0, time.UTC).Format("20060102T150405Z")
		dir := snapshot.Dir(remote.Root, stamp)
		dirs = append(dirs, dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for name, size := range map[string]int64{StatementFile: maxStatement, RemoteManifestFile: maxManifestSize} {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		if err := os.WriteFile(filepath.Join(dir, SignatureFile), strangerSig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	count := &readCountingFs{Fs: remote.FS}
	counted := Remote{FS: count, Root: remote.Root, URL: remote.URL}
	start := time.Now()
	l, err := listRemote(context.Background(), counted, trust)
	if err != nil || len(l) != planted+1 || l[0].Signature != SignatureVerified {
		t.Fatalf("remote list = %v, %v", signatures(l), err)
	}
	for _, e := range l[1:] {
		if !strings.Contains(e.Signature, "not in the allowed signers") {
			t.Fatalf("planted entry: %s", e.Signature)
		}
	}
	t.Logf("remote list of %d planted 16 MiB statements by a stranger: %d bytes read, %v", planted, count.read.Load(), time.Since(start))
	if n := count.read.Load(); n > 4<<20 {
		t.Errorf("remote list read %d bytes of a target whose planted statements are signed by a stranger, want < 4 MiB", n)
	}
	// The real signature copied beside each planted statement: its key is
	// listed, so statements are read, up to the total of one command.
	realSig, err := os.ReadFile(filepath.Join(snapshot.Dir(remote.Root, m.Stamp), SignatureFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, SignatureFile), realSig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	count.read.Store(0)
	_, err = listRemote(context.Background(), counted, trust)
	if !errors.Is(err, ErrTooMuch) || !strings.Contains(err.Error(), fmt.Sprint(maxReadPerCommand>>20)+" MiB") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("remote list of %d planted 16 MiB statements with a listed key = %v, want one line naming the limit", planted, err)
	}
	if n := count.read.Load(); n > maxReadPerCommand+4<<20 {
		t.Errorf("remote list read %d bytes, more than the %d limit", n, maxReadPerCommand)
	}
	if _, err := pullRemote(context.Background(), freshConfig(t), counted, m.Stamp, Opening{Trust: trust}); !errors.Is(err, ErrTooMuch) {
		t.Fatalf("pull from the stuffed target = %v, want %v", err, ErrTooMuch)
	}
	// More snapshot directories than the tool reads.
	for i := range maxRemoteSnapshots {
		stamp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format("20060102T150405Z")
		if err := os.Mkdir(snapshot.Dir(remote.Root, stamp), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	count.read.Store(0)
	if _, err := listRemote(context.Background(), counted, trust); !errors.Is(err, ErrTooMuch) || !strings.Contains(err.Error(), fmt.Sprint(maxRemoteSnapshots)) {
		t.Fatalf("remote list of %d snapshot directories = %v, want the limit named", maxRemoteSnapshots+planted+1, err)
	}
	if n := count.read.Load(); n != 0 {
		t.Errorf("remote list read %d bytes before refusing too many snapshots", n)
	}
}

// The findings of one remote snapshot are capped: a target that adds
// thousands of files gets a hundred lines and one that says the rest were
// not listed.
func TestRemoteFindingsAreBounded(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	remote := osRemote(t)
	m := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(remote.Root, m.Stamp)
	for i := range 2000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("extra-%04d", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trust})
	if err != nil || v.Valid {
		t.Fatalf("remote validate = %+v, %v", v.Valid, err)
	}
	if len(v.Errors) > maxFindings+1 || !strings.Contains(v.Errors[len(v.Errors)-1], "too_many_errors") {
		t.Fatalf("remote validate reported %d errors, last %q; want at most %d and the cap named", len(v.Errors), v.Errors[len(v.Errors)-1], maxFindings+1)
	}
}
