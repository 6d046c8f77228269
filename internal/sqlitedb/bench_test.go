package sqlitedb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The database benchmarks of docs/performance.md ("Profiles"), on a
// database of your choice (bench/gen makes one of any size):
//
//	go run ./bench/gen -dir /var/tmp/root -db-mib 1024 -chroma-mib -1
//	ATOCORE_BENCH_DB=/var/tmp/root/data/db/atocore.db go test -run '^$' -bench . -benchtime 3x ./internal/sqlitedb
//
// Without ATOCORE_BENCH_DB they are skipped.
func benchDB(b *testing.B) string {
	p := os.Getenv("ATOCORE_BENCH_DB")
	if p == "" {
		b.Skip("set ATOCORE_BENCH_DB to a database file")
	}
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	return p
}

func BenchmarkOnlineCopy(b *testing.B) {
	src := benchDB(b)
	dir := b.TempDir()
	for range b.N {
		dst := filepath.Join(dir, "copy.db")
		if _, err := OnlineCopy(context.Background(), src, dst); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		RemoveWithSidecars(dst)
		b.StartTimer()
	}
}

func BenchmarkIntegrityCheck(b *testing.B) {
	src := benchDB(b)
	for range b.N {
		res, err := IntegrityCheck(context.Background(), src)
		if err != nil || !res.OK {
			b.Fatalf("integrity_check: %+v, %v", res, err)
		}
	}
}
