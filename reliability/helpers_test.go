// Package reliability_test proves the promises of atocore-backup under
// failure: crash trials that SIGKILL the CLI at random moments, a
// fault-injecting filesystem, writers under load, and hostile input. The
// tests only read the library through its public (and internal) APIs; see
// docs/reliability.md for the promises, the test behind each one and the
// figures measured.
//
//	go test ./reliability/                 # the default run, a few minutes
//	ATOCORE_LONG=1 go test -timeout 60m ./reliability/   # 50 crash trials per operation, 20 creates under load
package reliability_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/validate"
)

// raceEnabled is set by race_test.go when the race detector is on: the
// in-process SQLite then runs several times slower, and the sweeps shrink.
var raceEnabled bool

// longMode is ATOCORE_LONG=1: the full trial counts of the issue.
func longMode() bool { return os.Getenv("ATOCORE_LONG") == "1" }

// scaled returns def in the default run, long with ATOCORE_LONG=1, and
// about a third of def under the race detector.
func scaled(def, long int) int {
	switch {
	case longMode():
		return long
	case raceEnabled:
		return max(def/3, 2)
	}
	return def
}

// rng returns the test's random source and logs its seed, which
// ATOCORE_SEED replays.
func rng(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ATOCORE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ATOCORE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("random seed %d (replay with ATOCORE_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0x5eed))
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	if os.Getenv(ledgerEnv) != "" {
		ledgerWriterMain() // the writer process of TestCrashReplicate; never returns
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// cliBin builds examples/atocore-backup once per test binary: the crash
// trials kill the real CLI.
func cliBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "atocore-reliability-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "atocore-backup")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/atocore/atocore-backup/examples/atocore-backup").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build the CLI: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// cliResult is one finished CLI run.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the CLI to completion (bounded by two minutes).
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin(t), args...)
	cmd.Env = cliEnv(t)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return cliResult{code, out.String(), errb.String()}
}

// cliEnv is a clean environment: no ATOCORE_* from the caller.
func cliEnv(t *testing.T) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "TZ=Asia/Tokyo"}
}

// genRoot generates a sample root with the given sizes in a fresh directory.
func genRoot(t testing.TB, dbBytes, chromaBytes int64, segments int) *sample.Root {
	t.Helper()
	r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{DBBytes: dbBytes, ChromaBytes: chromaBytes, Segments: segments, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// configOf is the configuration of r with a clock that moves one second
// at every reading: two creates on one backup directory need two stamps,
// and with the real clock the second would wait for the next second.
func configOf(r *sample.Root) backup.Config {
	return backup.Config{Paths: backup.Paths{Root: r.Dir}, Now: steppingClock()}
}

func steppingClock() func() time.Time {
	var mu sync.Mutex
	now := time.Now().UTC().Truncate(time.Second)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

// fingerprint is the logical content of a live database, or an error text.
func fingerprint(t testing.TB, path string) string {
	t.Helper()
	fp, err := sample.Fingerprint(context.Background(), path)
	if err != nil {
		t.Fatalf("fingerprint %s: %v", path, err)
	}
	return fp
}

// snapshotFingerprint fingerprints a snapshot's database through a private
// copy, so that the snapshot itself is never opened read-write.
func snapshotFingerprint(t testing.TB, snapDir string) string {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "copy.db")
	if err := cloneFile(filepath.Join(snapDir, filepath.FromSlash(snapshot.DBFile)), tmp); err != nil {
		t.Fatal(err)
	}
	return fingerprint(t, tmp)
}

// cloneFile copies the file src to a new file dst.
func cloneFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o600)
}

// liveIntegrity runs integrity_check on a live database the way the
// service would open it (read-write, WAL replayed), which is what matters
// after a crash: sqlitedb.IntegrityCheck opens files immutable and would
// ignore a WAL.
func liveIntegrity(path string) (bool, string) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(5000)")
	if err != nil {
		return false, err.Error()
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		return false, err.Error()
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return false, err.Error()
		}
		lines = append(lines, s)
	}
	if err := rows.Err(); err != nil {
		return false, err.Error()
	}
	return len(lines) == 1 && lines[0] == "ok", strings.Join(lines, "; ")
}

// stampEntries lists the names under backupDir/snapshots that are
// well-formed stamps, whatever kind of entry they are: each must be a
// complete, valid snapshot.
func stampEntries(t testing.TB, backupDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(backupDir, snapshot.SnapshotsDir))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if snapshot.IsStamp(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// checkAllValid validates (fully) every stamp under snapshots/ not in
// skip, and returns the findings of those that fail. Stamps that pass are
// added to skip: snapshots are immutable, so they need not be checked again.
func checkAllValid(t testing.TB, backupDir string, skip map[string]bool, quick bool) []string {
	t.Helper()
	var bad []string
	for _, st := range stampEntries(t, backupDir) {
		if skip != nil && skip[st] {
			continue
		}
		res, err := validate.Dir(context.Background(), nil, snapshot.Dir(backupDir, st), st, validate.Options{Quick: quick})
		if err != nil {
			bad = append(bad, st+": "+err.Error())
			continue
		}
		if !res.Valid {
			bad = append(bad, st+": "+strings.Join(res.Errors, "; "))
			continue
		}
		if skip != nil {
			skip[st] = true
		}
	}
	return bad
}

// leftovers lists what crashed runs leave in a backup directory.
func leftovers(t testing.TB, backupDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(backupDir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), snapshot.StagingPrefix) || strings.HasPrefix(e.Name(), snapshot.TrashPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// liveLeftovers lists temporary files a restore leaves beside the live
// paths: restore temp files of the database and registry, and the Chroma
// staging directory.
func liveLeftovers(t testing.TB, r *sample.Root) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{filepath.Dir(r.DBPath), filepath.Dir(r.RegistryPath), r.ChromaPath} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if strings.Contains(e.Name(), ".restore-") || e.Name() == ".atocore-restore" || strings.Contains(e.Name(), ".tmp-") {
				out = append(out, filepath.Join(filepath.Base(dir), e.Name()))
			}
		}
	}
	return out
}

// treeState maps every entry under dir (relative slash path) to its kind,
// mode and content digest (symlinks to their target). Two equal states are
// the same tree.
func treeState(t testing.TB, dir string) map[string]string {
	t.Helper()
	st := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			st[rel] = "link " + target
		case d.IsDir():
			st[rel] = "dir"
		default:
			dg, err := durable.HashFile(context.Background(), osFS, p)
			if err != nil {
				return err
			}
			st[rel] = fmt.Sprintf("file %o %s", info.Mode().Perm(), dg.SHA256)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return st
}

// contentState is treeState without modes and without the staging
// directory a killed restore leaves inside the live Chroma directory (the
// next restore removes it; liveLeftovers reports it), for comparing Chroma
// directories by content.
func contentState(t testing.TB, dir string) map[string]string {
	st := treeState(t, dir)
	out := map[string]string{}
	for k, v := range st {
		if k == "." || k == snapshot.ChromaRestoreStaging || strings.HasPrefix(k, snapshot.ChromaRestoreStaging+"/") {
			continue
		}
		if f := strings.Fields(v); f[0] == "file" {
			v = "file " + f[2]
			// A SQLite file is compared by content: copies made with the
			// online backup API differ from the original in header bytes.
			if path.Base(k) == snapshot.ChromaDBName {
				if c, err := sqlitedb.ReadContent(context.Background(), filepath.Join(dir, filepath.FromSlash(k))); err == nil {
					v = "sqlite " + c.Digest
				}
			}
		}
		out[k] = v
	}
	return out
}

func sameState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// diffState describes how b differs from a, briefly.
func diffState(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "-"+k)
		} else if w != v {
			d = append(d, "~"+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "+"+k)
		}
	}
	sort.Strings(d)
	if len(d) > 8 {
		d = append(d[:8], fmt.Sprintf("... (%d more)", len(d)-8))
	}
	return strings.Join(d, " ")
}

// removeSnapshotsExcept deletes every snapshot but keep (test housekeeping,
// so that trials do not pile up gigabytes).
func removeSnapshotsExcept(t testing.TB, backupDir string, keep ...string) {
	t.Helper()
	for _, st := range stampEntries(t, backupDir) {
		keepIt := false
		for _, k := range keep {
			keepIt = keepIt || k == st
		}
		if !keepIt {
			if err := os.RemoveAll(snapshot.Dir(backupDir, st)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// sampleN returns up to max values spread evenly over 1..total.
func sampleN(total, max int) []int {
	if total <= 0 {
		return nil
	}
	if total <= max {
		out := make([]int, total)
		for i := range out {
			out[i] = i + 1
		}
		return out
	}
	out := make([]int, 0, max)
	last := 0
	for i := range max {
		n := 1 + int(int64(i)*int64(total-1)/int64(max-1))
		if n != last {
			out = append(out, n)
			last = n
		}
	}
	return out
}

// snapshotsOfKind returns the stamps whose metadata says kind.
func snapshotsOfKind(t testing.TB, cfg backup.Config, kind string) []string {
	t.Helper()
	snaps, err := backup.List(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range snaps {
		if s.Kind() == kind {
			out = append(out, s.Stamp)
		}
	}
	return out
}
