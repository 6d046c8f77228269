package offsite

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// A target that can plant entries: links to files and directories of the
// restoring machine, giant sparse files, hostile key files. Each test is
// one attack, on real files.

// moveOut moves path (a file or directory on the target) to a directory
// outside the target and leaves a symbolic link to it in its place: the
// bytes behind the link are the very bytes that were pushed, so only the
// link itself can be what is refused.
func moveOut(t *testing.T, path string) {
	t.Helper()
	outside := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.Rename(path, outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, path); err != nil {
		t.Fatal(err)
	}
}

func TestHostileLinksOnTargetAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name      string
		encrypted bool
		entry     string // moved out of the snapshot and linked back
	}{
		{"plaintext file link", false, snapshot.RegistryFile},
		{"plaintext directory link", false, "chroma"},
		{"plaintext metadata link", false, snapshot.MetadataFile},
		{"encrypted file link", true, "db/atocore.db.age"},
		{"encrypted directory link", true, "chroma"},
		{"remote-manifest.json link", true, RemoteManifestFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Root(t)
			m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
			remote := osRemote(t)
			var seal Sealing
			var open Opening
			if tc.encrypted {
				rs, ids := keys(t)
				seal, open = Sealing{Recipients: rs}, Opening{Identities: ids}
			}
			if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: seal}); err != nil {
				t.Fatal(err)
			}
			moveOut(t, filepath.Join(snapshot.Dir(remote.Root, m.Stamp), filepath.FromSlash(tc.entry)))

			fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
			open.Trust = allowUnsigned
			_, err := pullRemote(context.Background(), fresh, remote, m.Stamp, open)
			if err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), tc.entry) {
				t.Fatalf("pull through a planted link: err = %v, want a refusal naming %s as a symbolic link", err, tc.entry)
			}
			if snaps, _ := backup.List(context.Background(), fresh); len(snaps) != 0 {
				t.Fatal("a refused pull left a snapshot")
			}
			v, err := validateRemote(context.Background(), remote, m.Stamp, open)
			if err == nil && v.Valid {
				t.Fatalf("remote validate through a planted link: valid, %+v", v)
			}
		})
	}
}

// A sparse 3 GiB remote-manifest.json costs a few reads, not 3 GiB of
// memory: remote list and validate stop at the cap and name it.
func TestHostileGiantRemoteManifest(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{})
	rs, _ := keys(t)
	remote := osRemote(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: Sealing{Recipients: rs}}); err != nil {
		t.Fatal(err)
	}
	rm := filepath.Join(snapshot.Dir(remote.Root, m.Stamp), RemoteManifestFile)
	if err := os.Truncate(rm, 3<<30); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	if _, err := listRemote(context.Background(), remote, allowUnsigned); err != nil {
		t.Fatal(err)
	}
	v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{})
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("remote list + validate of a 3 GiB remote manifest: %v, %d MiB allocated", took, allocated>>20)
	if allocated > 64<<20 || took > 5*time.Second {
		t.Errorf("a 3 GiB remote manifest cost %d MiB and %v, want < 64 MiB and < 5 s", allocated>>20, took)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = strings.Join(v.Errors, "; ")
	}
	// Refused by the cap, or (when the snapshot carries its statement) by
	// the statement's size for the file, before any of it is read.
	if (err == nil && v.Valid) || !strings.Contains(msg, RemoteManifestFile) ||
		(!strings.Contains(msg, durable.SizeText(maxManifestSize)) && !strings.Contains(msg, StatementFile)) {
		t.Fatalf("validate = %+v, %v: want refused, naming %s and the %s cap", v, err, RemoteManifestFile, durable.SizeText(maxManifestSize))
	}
}

// countingFs counts the bytes written through it: what a pull put on the
// local disk, whatever it removed afterwards.
type countingFs struct {
	afero.Fs
	written *int64
}

func (c countingFs) OSPath(name string) (string, error) { return name, nil }

func (c countingFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := c.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countingFile{File: f, written: c.written}, nil
}

func (c countingFs) Create(name string) (afero.File, error) {
	return c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

type countingFile struct {
	afero.File
	written *int64
}

func (f countingFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	*f.written += int64(n)
	return n, err
}

func (f countingFile) ReadFrom(r io.Reader) (int64, error) { return io.Copy(struct{ io.Writer }{f}, r) }

// Pull writes no byte of a file its snapshot does not list, and never more
// of a listed file than its listed size: the target cannot fill the local
// disk (the database's, by default).
func TestHostilePullWritesOnlyListedBytes(t *testing.T) {
	const extra = 64 << 20
	for _, tc := range []struct {
		name      string
		encrypted bool
		plant     func(t *testing.T, dir string) string // returns what the error must name
	}{
		{"plaintext unlisted file", false, func(t *testing.T, dir string) string {
			sparse(t, filepath.Join(dir, "db", "atocore.db-extra"), extra)
			return "db/atocore.db-extra"
		}},
		{"plaintext oversized file", false, func(t *testing.T, dir string) string {
			grow(t, filepath.Join(dir, snapshot.RegistryFile), extra)
			return snapshot.RegistryFile
		}},
		{"encrypted oversized file", true, func(t *testing.T, dir string) string {
			grow(t, filepath.Join(dir, "db", "atocore.db.age"), extra)
			return "db/atocore.db.age"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Root(t)
			m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
			remote := osRemote(t)
			var seal Sealing
			var open Opening
			if tc.encrypted {
				rs, ids := keys(t)
				seal, open = Sealing{Recipients: rs}, Opening{Identities: ids}
			}
			if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: seal}); err != nil {
				t.Fatal(err)
			}
			dir := snapshot.Dir(remote.Root, m.Stamp)
			var listed int64
			for _, f := range remoteListing(t, remote, dir) {
				listed += f.Size
			}
			name := tc.plant(t, dir)
			var written int64
			fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}, FS: countingFs{Fs: afero.NewOsFs(), written: &written}}
			open.Trust = allowUnsigned
			_, err := pullRemote(context.Background(), fresh, remote, m.Stamp, open)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("pull = %v, want a refusal naming %s", err, name)
			}
			if written > listed+1<<20 {
				t.Fatalf("pull wrote %d bytes locally, the snapshot lists %d", written, listed)
			}
		})
	}
}

// remoteListing is what the remote snapshot says it holds, with sizes.
func remoteListing(t *testing.T, remote Remote, dir string) []snapshot.File {
	t.Helper()
	if rm, err := readRemoteManifest(remote.FS, dir); err == nil && rm != nil {
		return rm.Files
	}
	data, err := os.ReadFile(filepath.Join(dir, snapshot.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := snapshot.DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	return append(m.Files, snapshot.File{Path: snapshot.ManifestFile, Size: int64(len(data))})
}

// sparse makes a file of n zero bytes that takes no disk space.
func sparse(t *testing.T, name string, n int64) {
	t.Helper()
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	grow(t, name, n)
}

// grow extends a file by n (sparse) zero bytes.
func grow(t *testing.T, name string, n int64) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, fi.Size()+n); err != nil {
		t.Fatal(err)
	}
}

// One damaged byte in the newest remote key.age no longer stops every later
// passphrase push: the push starts a new session key, says so, and the new
// snapshot pulls back with the passphrase.
func TestDamagedKeyFileStartsNewSessionKey(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func(t *testing.T, keyFile string)
	}{
		{"flipped byte in the stanza", func(t *testing.T, keyFile string) { testutil.Corrupt(t, keyFile, 40, 1) }},
		{"flipped byte in the payload", func(t *testing.T, keyFile string) {
			fi, _ := os.Stat(keyFile)
			testutil.Corrupt(t, keyFile, fi.Size()-5, 1)
		}},
		{"truncated", func(t *testing.T, keyFile string) { _ = os.Truncate(keyFile, 30) }},
		{"unreadable (a directory)", func(t *testing.T, keyFile string) { _ = os.Remove(keyFile); _ = os.Mkdir(keyFile, 0o700) }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			r := testutil.Root(t)
			cfg := testutil.Config(r)
			var logs bytes.Buffer
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			seal := Sealing{Passphrase: []byte("s3cret"), PassphraseOptions: []encrypt.PassphraseOption{encrypt.WithWorkFactor(10)}}
			remote := osRemote(t)
			first := createStampAt(t, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC))
			if _, err := pushRemote(context.Background(), cfg, remote, PushOptions{Sealing: seal}); err != nil {
				t.Fatal(err)
			}
			keyFile := filepath.Join(snapshot.Dir(remote.Root, first), encryptKeyFile)
			damage.do(t, keyFile)

			second := createStampAt(t, cfg, time.Date(2026, 4, 2, 6, 0, 0, 0, time.UTC))
			res, err := pushRemote(context.Background(), cfg, remote, PushOptions{Sealing: seal})
			if err != nil {
				t.Fatalf("push after a damaged key.age: %v", err)
			}
			// Either the damage is seen against the snapshot's statement (a
			// size differs) and that snapshot is repaired, or it is not (the
			// same size) and the new snapshot starts a new session key.
			repaired := len(res.Repaired) == 1 && res.Repaired[0].Stamp == first
			pushedNew := len(res.Pushed) >= 1 && res.Pushed[len(res.Pushed)-1].Stamp == second
			if !pushedNew {
				t.Fatalf("push = %+v, want %s pushed", res, second)
			}
			if !repaired {
				last := res.Pushed[len(res.Pushed)-1]
				if last.Linked != 0 {
					t.Fatalf("push = %+v, want %s pushed whole under a new key", res, second)
				}
				if !strings.Contains(logs.String(), "new session key") || !strings.Contains(strings.Join(last.Warnings, " "), "new session key") {
					t.Fatalf("the new session key was not reported: log %q, warnings %q", logs.String(), last.Warnings)
				}
			}
			fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
			if _, err := pullRemote(context.Background(), fresh, remote, second, Opening{Passphrase: seal.Passphrase, Trust: allowUnsigned}); err != nil {
				t.Fatalf("pull of the snapshot pushed under the new key: %v", err)
			}
		})
	}
}

// A planted key.age asking for scrypt 2^22 costs a push nothing: it is not
// the key file this machine pushed, so a new session key is started
// without opening it.
func TestHostileWorkFactorKeyFileCostsPushNothing(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	seal := Sealing{Passphrase: []byte("s3cret"), PassphraseOptions: []encrypt.PassphraseOption{encrypt.WithWorkFactor(10)}}
	remote := osRemote(t)
	first := createStampAt(t, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), cfg, remote, PushOptions{Sealing: seal}); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(snapshot.Dir(remote.Root, first), encryptKeyFile)
	if err := os.WriteFile(keyFile, hostileKeyFile(22), 0o600); err != nil {
		t.Fatal(err)
	}
	createStampAt(t, cfg, time.Date(2026, 4, 2, 6, 0, 0, 0, time.UTC))
	start := time.Now()
	if _, err := pushRemote(context.Background(), cfg, remote, PushOptions{Sealing: seal}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("push beside a 2^22 key.age took %v", took)
	}
	// The push may have repaired the first snapshot (its key.age differs
	// from its statement): plant the hostile key file again for the pull.
	if err := os.WriteFile(keyFile, hostileKeyFile(22), 0o600); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
	_, err := pullRemote(context.Background(), fresh, remote, first, Opening{Passphrase: seal.Passphrase, Trust: allowUnsigned})
	if !errors.Is(err, encrypt.ErrWorkFactor) || time.Since(start) > 5*time.Second {
		t.Fatalf("pull with a 2^22 key.age: %v after %v, want ErrWorkFactor at once", err, time.Since(start))
	}
}

// hostileKeyFile is an age header with one scrypt stanza of work factor
// logN (the salt, body and MAC are arbitrary).
func hostileKeyFile(logN int) []byte {
	return []byte("age-encryption.org/v1\n-> scrypt c2FsdHNhbHRzYWx0c2FsdA " + itoa(logN) +
		"\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" + strings.Repeat("x", 40))
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// createAt makes a snapshot at the given instant and returns its stamp.
func createStampAt(t *testing.T, cfg backup.Config, at time.Time) string {
	t.Helper()
	c := cfg
	c.Now = func() time.Time { return at }
	m, err := backup.Create(context.Background(), c, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	return m.Stamp
}

// The plaintext files a target holds are read within caps too: a sparse
// 3 GiB backup-metadata.json or manifest.json costs remote list and
// validate a stat, not gigabytes.
func TestHostileGiantPlaintextJSON(t *testing.T) {
	for _, name := range []string{snapshot.MetadataFile, snapshot.ManifestFile, snapshot.RegistryFile} {
		t.Run(name, func(t *testing.T) {
			r := testutil.Root(t)
			m := testutil.Create(t, r, backup.CreateOptions{})
			remote := osRemote(t)
			if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(filepath.Join(snapshot.Dir(remote.Root, m.Stamp), filepath.FromSlash(name)), 3<<30); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			if _, err := listRemote(context.Background(), remote, allowUnsigned); err != nil {
				t.Fatal(err)
			}
			v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("remote list + validate with a 3 GiB %s: %v, %d MiB allocated", name, took, allocated>>20)
			if allocated > 64<<20 || took > 5*time.Second {
				t.Errorf("a 3 GiB %s cost %d MiB and %v, want < 64 MiB and < 5 s", name, allocated>>20, took)
			}
			if err == nil && (v.Valid || !strings.Contains(strings.Join(v.Errors, " "), name)) {
				t.Errorf("validate = %+v: want invalid, naming %s", v, name)
			}
		})
	}
}
