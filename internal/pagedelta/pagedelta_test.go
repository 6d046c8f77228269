package pagedelta_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/pagedelta"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/internal/testutil"

	_ "modernc.org/sqlite"
)

// snapshotDB makes a database as a snapshot holds it: one file, not WAL.
func snapshotDB(t testing.TB, dir string, opts sample.Options) string {
	t.Helper()
	r, err := sample.Generate(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "snap.db")
	onlineCopy(t, r.DBPath, out)
	return out
}

// onlineCopy copies a database as create does.
func onlineCopy(t testing.TB, from, to string) {
	t.Helper()
	if _, err := sqlitedb.OnlineCopy(context.Background(), from, to); err != nil {
		t.Fatal(err)
	}
}

func exec1(t testing.TB, path, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// roundTrip writes the delta of next on base and applies it to base, and
// returns the delta's stats and bytes; the rebuilt file must equal next.
func roundTrip(t *testing.T, base, next string) (pagedelta.Stats, []byte) {
	t.Helper()
	ctx := context.Background()
	fsys := afero.NewOsFs()
	var buf bytes.Buffer
	st, err := pagedelta.Write(ctx, fsys, base, next, pagedelta.Header{TXID: 2, Time: time.Unix(1800000000, 0)}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != int64(buf.Len()) {
		t.Fatalf("Stats.Bytes %d, wrote %d", st.Bytes, buf.Len())
	}
	for _, c := range []struct{ got, path string }{{st.BaseSHA256, base}, {st.SHA256, next}} {
		data, _ := os.ReadFile(c.path)
		if sum := sha256.Sum256(data); c.got != hex.EncodeToString(sum[:]) {
			t.Fatalf("the SHA-256 of the pages of %s is not its file's", c.path)
		}
	}
	out := filepath.Join(t.TempDir(), "rebuilt.db")
	if err := applyCopy(t, base, buf.Bytes(), out, 1<<40); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(next)
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Fatalf("rebuilt database (%d bytes) differs from the new one (%d bytes)", len(got), len(want))
	}
	return st, buf.Bytes()
}

func TestDeltaRebuildsTheDatabase(t *testing.T) {
	dir := t.TempDir()
	base := snapshotDB(t, dir, sample.Options{Seed: 3, DBBytes: 4 << 20, ChromaBytes: -1})
	work := filepath.Join(dir, "work.db")
	copyFile(t, base, work)

	t.Run("SomeRowsChanged", func(t *testing.T) {
		if _, err := sample.ChangeRows(context.Background(), work, 0.01, 5); err != nil {
			t.Fatal(err)
		}
		next := filepath.Join(t.TempDir(), "next.db")
		onlineCopy(t, work, next)
		st, _ := roundTrip(t, base, next)
		if st.Changed == 0 || st.Changed > st.Pages/10 {
			t.Errorf("%d of %d pages in the delta after 1%% of the rows changed", st.Changed, st.Pages)
		}
	})
	t.Run("Unchanged", func(t *testing.T) {
		st, _ := roundTrip(t, base, base)
		if st.Changed != 0 {
			t.Errorf("%d pages in the delta of a database on itself", st.Changed)
		}
	})
	t.Run("Grown", func(t *testing.T) {
		next := filepath.Join(t.TempDir(), "grown.db")
		copyFile(t, base, next)
		exec1(t, next, "CREATE TABLE padding(b BLOB)")
		exec1(t, next, "INSERT INTO padding VALUES (randomblob(300000))")
		st, _ := roundTrip(t, base, next)
		if st.Changed < 300000/st.PageSize {
			t.Errorf("%d pages for 300 kB of new rows", st.Changed)
		}
	})
	t.Run("Shrunk", func(t *testing.T) {
		next := filepath.Join(t.TempDir(), "shrunk.db")
		copyFile(t, base, next)
		exec1(t, next, "DELETE FROM source_chunks WHERE rowid % 2 = 0")
		exec1(t, next, "VACUUM")
		roundTrip(t, base, next)
	})
}

func TestApplyRefusesAnotherBase(t *testing.T) {
	dir := t.TempDir()
	base := snapshotDB(t, dir, sample.Options{Seed: 3, ChromaBytes: -1})
	next := filepath.Join(dir, "next.db")
	copyFile(t, base, next)
	exec1(t, next, "UPDATE source_chunks SET content = 'changed' WHERE rowid = 1")
	_, delta := roundTrip(t, base, next)
	out := filepath.Join(dir, "out.db")

	// The new database is not the base the delta was made on: it is left
	// as it was.
	err := applyCopy(t, next, delta, out, 1<<40)
	if !errors.Is(err, pagedelta.ErrWrongBase) {
		t.Fatalf("applied to the wrong base: %v", err)
	}
	if got, want := readFile(t, out), readFile(t, next); !bytes.Equal(got, want) {
		t.Fatalf("a refused apply changed %s", out)
	}
	// A delta that names a larger database than the caller expects.
	if err := applyCopy(t, base, delta, out, 4096); err == nil {
		t.Fatal("applied a delta past its size bound")
	}
	// Damaged bytes: the LTX checksums refuse them.
	for _, off := range []int{len(delta) / 2, len(delta) - 3} {
		bad := bytes.Clone(delta)
		bad[off] ^= 0x40
		if err := applyCopy(t, base, bad, out, 1<<40); err == nil {
			t.Fatalf("applied a delta damaged at byte %d", off)
		}
	}
	// Cut short.
	if err := applyCopy(t, base, delta[:len(delta)-20], out, 1<<40); err == nil {
		t.Fatal("applied a delta cut short")
	}
}

// applyCopy copies base to out and applies delta to the copy in place.
func applyCopy(t *testing.T, base string, delta []byte, out string, maxSize int64) error {
	t.Helper()
	copyFile(t, base, out)
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return pagedelta.ApplyTo(context.Background(), f, bytes.NewReader(delta), maxSize)
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDeltaOnAnotherPageSize(t *testing.T) {
	dir := t.TempDir()
	base := snapshotDB(t, dir, sample.Options{Seed: 3, ChromaBytes: -1})
	next := filepath.Join(dir, "next.db")
	copyFile(t, base, next)
	exec1(t, next, "PRAGMA journal_mode = DELETE; PRAGMA page_size = 8192; VACUUM")
	_, err := pagedelta.Write(context.Background(), afero.NewOsFs(), base, next, pagedelta.Header{TXID: 2}, &bytes.Buffer{})
	if !errors.Is(err, pagedelta.ErrNotComparable) {
		t.Fatalf("delta across page sizes: %v", err)
	}
}

// TestLTXToolAppliesTheDelta is the independent check of the format:
// superfly/ltx's own command verifies the delta and rebuilds the database.
func TestLTXToolAppliesTheDelta(t *testing.T) {
	tool := testutil.Tool(t, "ltx")
	dir := t.TempDir()
	base := snapshotDB(t, dir, sample.Options{Seed: 4, ChromaBytes: -1})
	next := filepath.Join(dir, "next.db")
	copyFile(t, base, next)
	exec1(t, next, "UPDATE source_chunks SET content = 'changed ' || rowid WHERE rowid % 50 = 0")
	_, delta := roundTrip(t, base, next)
	deltaPath := filepath.Join(dir, "db.ltx")
	if err := os.WriteFile(deltaPath, delta, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "verify", deltaPath).CombinedOutput(); err != nil {
		t.Fatalf("ltx verify: %v\n%s", err, out)
	}
	rebuilt := filepath.Join(dir, "rebuilt.db")
	copyFile(t, base, rebuilt)
	if out, err := exec.Command(tool, "apply", "-db", rebuilt, deltaPath).CombinedOutput(); err != nil {
		t.Fatalf("ltx apply: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(next)
	got, _ := os.ReadFile(rebuilt)
	if !bytes.Equal(got, want) {
		t.Fatal("ltx apply rebuilt another database")
	}
}

func TestNames(t *testing.T) {
	name := pagedelta.Name("db/atocore.db", "20261207T020000Z")
	if name != "db/atocore.db.from-20261207T020000Z.ltx" {
		t.Fatal(name)
	}
	rel, base, ok := pagedelta.Parse(name)
	if !ok || rel != "db/atocore.db" || base != "20261207T020000Z" {
		t.Fatal(rel, base, ok)
	}
	for _, bad := range []string{"db/atocore.db", "x.ltx", ".from-A.ltx", "a.from-.ltx", "a.from-x/y.ltx", "a.from-b.c.ltx"} {
		if _, _, ok := pagedelta.Parse(bad); ok {
			t.Errorf("%q taken for a delta's name", bad)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	base := snapshotDB(b, dir, sample.Options{Seed: 3, DBBytes: 64 << 20, ChromaBytes: -1})
	work := filepath.Join(dir, "work.db")
	copyFile(b, base, work)
	if _, err := sample.ChangeRows(context.Background(), work, 0.01, 5); err != nil {
		b.Fatal(err)
	}
	next := filepath.Join(dir, "next.db")
	onlineCopy(b, work, next)
	fi, _ := os.Stat(next)
	b.SetBytes(fi.Size())
	for b.Loop() {
		st, err := pagedelta.Write(context.Background(), afero.NewOsFs(), base, next, pagedelta.Header{TXID: 2}, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Changed)/float64(st.Pages)*100, "%changed")
	}
}

// One Rebuilder applies a chain (growth, shrink, change) keeping the
// checksum from the pages it writes: each step must equal its database.
func TestRebuilderAppliesAChain(t *testing.T) {
	ctx := context.Background()
	fsys := afero.NewOsFs()
	dir := t.TempDir()
	steps := []string{snapshotDB(t, dir, sample.Options{Seed: 5, ChromaBytes: -1})}
	work := filepath.Join(dir, "work.db")
	copyFile(t, steps[0], work)
	for i, q := range []string{
		"CREATE TABLE padding(b BLOB); INSERT INTO padding VALUES (randomblob(200000))",
		"DELETE FROM source_chunks WHERE rowid % 3 = 0; DROP TABLE padding; PRAGMA journal_mode = DELETE; VACUUM",
		"UPDATE source_chunks SET content = 'again ' || rowid WHERE rowid % 7 = 0",
	} {
		exec1(t, work, q)
		next := filepath.Join(dir, fmt.Sprintf("step%d.db", i+1))
		copyFile(t, work, next)
		steps = append(steps, next)
	}
	out := filepath.Join(dir, "rebuilt.db")
	copyFile(t, steps[0], out)
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rb := pagedelta.NewRebuilder(f)
	for i := 1; i < len(steps); i++ {
		var buf bytes.Buffer
		if _, err := pagedelta.Write(ctx, fsys, steps[i-1], steps[i], pagedelta.Header{TXID: uint64(i) + 1}, &buf); err != nil {
			t.Fatal(err)
		}
		if err := rb.Apply(ctx, &buf, 1<<40); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		want, _ := os.ReadFile(steps[i])
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d: the rebuilt database (%d bytes) differs from the step's (%d bytes)", i, len(got), len(want))
		}
	}
}

// A Tracker that saw the base written hands its checksum to the
// Rebuilder, which then trusts it instead of reading the file: the same
// result as reading, and a Tracker fed other bytes is caught by the
// delta's pre-apply checksum.
func TestRebuilderFromTracker(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base := snapshotDB(t, dir, sample.Options{Seed: 6, ChromaBytes: -1})
	next := filepath.Join(dir, "next.db")
	copyFile(t, base, next)
	exec1(t, next, "UPDATE source_chunks SET content = 'tracked ' || rowid WHERE rowid % 11 = 0")
	var delta bytes.Buffer
	if _, err := pagedelta.Write(ctx, afero.NewOsFs(), base, next, pagedelta.Header{TXID: 2}, &delta); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(base)
	for _, c := range []struct {
		name    string
		tracked []byte
		wantErr error
	}{
		{"the base itself", data, nil},
		{"other bytes", append(bytes.Clone(data[:len(data)-1]), data[len(data)-1]^1), pagedelta.ErrWrongBase},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "db")
			if err := os.WriteFile(out, data, 0o600); err != nil {
				t.Fatal(err)
			}
			tr := &pagedelta.Tracker{}
			for off := 0; off < len(c.tracked); off += 777 { // writes that cut pages anywhere
				tr.Write(c.tracked[off:min(off+777, len(c.tracked))])
			}
			f, err := os.OpenFile(out, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = pagedelta.NewRebuilderFrom(f, tr).Apply(ctx, bytes.NewReader(delta.Bytes()), 1<<40)
			if !errors.Is(err, c.wantErr) && !(c.wantErr == nil && err == nil) {
				t.Fatalf("Apply = %v, want %v", err, c.wantErr)
			}
			if c.wantErr == nil {
				want, _ := os.ReadFile(next)
				got, _ := os.ReadFile(out)
				if !bytes.Equal(got, want) {
					t.Fatal("rebuilt from a tracked base: another database")
				}
			}
		})
	}
}
