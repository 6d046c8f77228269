package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

// The sample root is sized by the environment; the defaults keep
// `go test -bench . ./bench/` well under a minute.
const (
	envDBMiB     = "ATOCORE_BENCH_DB_MIB"     // default 64
	envChromaMiB = "ATOCORE_BENCH_CHROMA_MIB" // default 64
	envSegments  = "ATOCORE_BENCH_SEGMENTS"   // default 20 for random, the shape's own for the others
	envShape     = "ATOCORE_BENCH_SHAPE"      // random (default), text or many
)

// workDir holds the one sample root of this test process. It is made in
// TestMain, not with b.TempDir, because b.TempDir is removed after each
// round of a benchmark and generating a GiB root takes longer than the
// operations measured on it.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "atocore-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture is the shared root with one validated snapshot (Chroma included)
// that the validate and restore benchmarks read.
type fixture struct {
	root  *sample.Root
	cfg   backup.Config
	stamp string
	bytes int64 // database plus Chroma bytes in the snapshot
}

var (
	fixtureOnce sync.Once
	theFixture  *fixture
	fixtureErr  error
)

func getFixture(b *testing.B) *fixture {
	b.Helper()
	fixtureOnce.Do(func() { theFixture, fixtureErr = makeFixture(context.Background()) })
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return theFixture
}

func makeFixture(ctx context.Context) (*fixture, error) {
	dbMiB, err := envInt(envDBMiB, 64)
	if err != nil {
		return nil, err
	}
	chromaMiB, err := envInt(envChromaMiB, 64)
	if err != nil {
		return nil, err
	}
	shape, err := sample.ParseShape(os.Getenv(envShape))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envShape, err)
	}
	segments := 0 // the text and many shapes choose their own
	if shape == sample.ShapeRandom {
		segments = 20
	}
	if os.Getenv(envSegments) != "" {
		if segments, err = envInt(envSegments, 0); err != nil {
			return nil, err
		}
	}
	root, err := sample.Generate(ctx, filepath.Join(workDir, "root"), sample.Options{
		DBBytes: int64(dbMiB) << 20, ChromaBytes: int64(chromaMiB) << 20, Segments: segments, Shape: shape, Seed: 1})
	if err != nil {
		return nil, err
	}
	cfg := backup.Config{Paths: backup.Paths{Root: root.Dir}}
	meta, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		return nil, fmt.Errorf("fixture snapshot: %w", err)
	}
	return &fixture{root: root, cfg: cfg, stamp: meta.Stamp, bytes: meta.DBSizeBytes + meta.ChromaBytes}, nil
}

func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive whole number of MiB", name, s)
	}
	return n, nil
}

// BenchmarkCreate measures `create --include-chroma`: the online copy of
// both SQLite files, the Chroma segment copy, fsyncs, and the validation of
// the new snapshot. Each iteration writes into an empty backup directory of
// its own, which is removed off the clock.
func BenchmarkCreate(b *testing.B) {
	f := getFixture(b)
	ctx := context.Background()
	b.SetBytes(f.bytes)
	b.ResetTimer()
	for i := range b.N {
		cfg := f.cfg
		cfg.BackupDir = filepath.Join(workDir, fmt.Sprintf("create-%d", i))
		meta, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
		if err != nil {
			b.Fatal(err)
		}
		if !meta.Validated {
			b.Fatalf("snapshot %s not validated: %v", meta.Stamp, meta.ValidationErrors)
		}
		b.StopTimer()
		if err := os.RemoveAll(cfg.BackupDir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkValidate measures `validate STAMP`: integrity_check of both
// SQLite files and the SHA-256 of every file against the manifest.
func BenchmarkValidate(b *testing.B) {
	f := getFixture(b)
	ctx := context.Background()
	cfg, err := f.cfg.Resolved()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(f.bytes)
	b.ResetTimer()
	for range b.N {
		res, err := validate.Snapshot(ctx, cfg.FS, cfg.BackupDir, f.stamp)
		if err != nil {
			b.Fatal(err)
		}
		if !res.Valid {
			b.Fatalf("snapshot %s invalid: %v", f.stamp, res.Errors)
		}
	}
}

// BenchmarkRestore measures `restore STAMP --confirm-service-stopped
// --no-pre-snapshot`: validation, the copy of the database, registry and
// Chroma over the live paths, and integrity_check of the restored database.
func BenchmarkRestore(b *testing.B) {
	f := getFixture(b)
	ctx := context.Background()
	b.SetBytes(f.bytes)
	b.ResetTimer()
	for range b.N {
		res, err := restore.Run(ctx, f.cfg, f.stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true})
		if err != nil {
			b.Fatal(err)
		}
		if !res.RestoredIntegrityOK || !res.ChromaRestored {
			b.Fatalf("restore incomplete: %+v", res)
		}
	}
}
