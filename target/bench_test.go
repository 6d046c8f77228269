package target_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

// BenchmarkSFTPUpload uploads a 256 MiB stream of unknown length (as an
// encryptor's output is) to a real sshd on loopback, fsync included:
//
//	go test ./target -run '^$' -bench SFTPUpload -benchtime 3x
//
// WriteFileFrom keeps 64 write requests in flight; io.Copy through a
// plain writer sends one 32 KiB packet per round trip; a 1 MiB buffer
// (durable.CopyFile) gets 32 packets per round trip.
func BenchmarkSFTPUpload(b *testing.B) {
	srv := sshdtest.Start(b)
	tgt, err := target.DialSFTP(b.Context(), sftpConfig(srv, filepath.Join(srv.Dir, "bench")))
	if err != nil {
		b.Fatal(err)
	}
	defer tgt.Close()
	const size = 256 << 20
	methods := []struct {
		name string
		up   func(fsys afero.Fs, name string, r io.Reader) error
	}{
		{"ReadFromWithConcurrency", func(fsys afero.Fs, name string, r io.Reader) error {
			_, err := target.WriteFileFrom(fsys, name, r, 0o600)
			return err
		}},
		{"IoCopy32KiB", func(fsys afero.Fs, name string, r io.Reader) error {
			return copyThrough(fsys, name, r, 32<<10)
		}},
		{"IoCopy1MiB", func(fsys afero.Fs, name string, r io.Reader) error {
			return copyThrough(fsys, name, r, 1<<20)
		}},
	}
	for _, m := range methods {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(size)
			for i := range b.N {
				name := filepath.Join(tgt.Root(), fmt.Sprintf("%s-%d", m.name, i))
				if err := m.up(tgt.FS(), name, randomStream(size)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = tgt.FS().Remove(name)
				b.StartTimer()
			}
		})
	}
}

// copyThrough writes with plain Write calls of bufSize bytes (the writer
// is wrapped so io.Copy cannot use the file's ReadFrom), then syncs.
func copyThrough(fsys afero.Fs, name string, r io.Reader, bufSize int) error {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{r}, make([]byte, bufSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// BenchmarkPush pushes one snapshot (a generated root, 64 MiB database and
// 64 MiB Chroma by default; ATOCORE_BENCH_DB_MIB and ATOCORE_BENCH_CHROMA_MIB
// change them) age-encrypted to a fresh directory of a real sshd on
// loopback: the whole push path, for profiles of where its time goes.
//
//	go test ./target -run '^$' -bench Push -benchtime 3x -cpuprofile /tmp/push.prof
func BenchmarkPush(b *testing.B) {
	srv := sshdtest.Start(b)
	dbMiB, chromaMiB := envMiB("ATOCORE_BENCH_DB_MIB", 64), envMiB("ATOCORE_BENCH_CHROMA_MIB", 64)
	r, err := sample.Generate(b.Context(), b.TempDir(), sample.Options{Seed: 3, DBBytes: dbMiB << 20, ChromaBytes: chromaMiB << 20, Segments: 20})
	if err != nil {
		b.Fatal(err)
	}
	testutil.Create(b, r, backup.CreateOptions{IncludeChroma: true})
	_, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		b.Fatal(err)
	}
	rs, err := encrypt.ParseRecipients(rcpt)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes((dbMiB + chromaMiB) << 20)
	for i := range b.N {
		b.StopTimer()
		tgt, err := target.DialSFTP(b.Context(), sftpConfig(srv, filepath.Join(srv.Dir, fmt.Sprintf("push-%d", i))))
		if err != nil {
			b.Fatal(err)
		}
		_ = os.RemoveAll(filepath.Join(r.BackupDir, ".push-state"))
		b.StartTimer()
		if _, err := offsite.Push(b.Context(), testutil.Config(r), tgt, offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		tgt.Close()
		_ = os.RemoveAll(filepath.Join(srv.Dir, fmt.Sprintf("push-%d", i)))
		b.StartTimer()
	}
}

func envMiB(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}
