package replica

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

// fakeChain lays down a chain of header-only LTX files: a tick a second
// from t0 for ticks seconds in L0 (TXIDs 2 on), one L1 file per whole
// minute and one L2 file per whole hour, and alive.json at the last
// tick, as the replicator and its compactor leave them.
func fakeChain(t *testing.T, backupDir, base, id string, t0 time.Time, ticks int) string {
	t.Helper()
	if err := os.MkdirAll(snapshot.Dir(backupDir, base), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snapshot.Dir(backupDir, base), snapshot.ManifestFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := chainDir(backupDir, base, id)
	for _, l := range levels {
		if err := os.MkdirAll(filepath.Join(dir, l.dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	meta, _ := json.Marshal(chainMeta{FormatVersion: 1, Base: base, Chain: id, PageSize: 4096})
	if err := os.WriteFile(filepath.Join(dir, chainFile), meta, 0o600); err != nil {
		t.Fatal(err)
	}
	at := func(txid ltx.TXID) time.Time { return t0.Add(time.Duration(txid-2) * time.Second) }
	write := func(level int, lo, hi ltx.TXID) {
		t.Helper()
		h := ltx.Header{Version: ltx.Version, PageSize: 4096, Commit: 1, MinTXID: lo, MaxTXID: hi,
			Timestamp: at(hi).UnixMilli(), PreApplyChecksum: ltx.ChecksumFlag | 1}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, levels[level].dir, ltx.FormatFilename(lo, hi)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	last := ltx.TXID(ticks + 1)
	for n := ltx.TXID(2); n <= last; n++ {
		write(0, n, n)
	}
	for level, span := range []time.Duration{0, time.Minute, time.Hour} {
		if level == 0 {
			continue
		}
		lo := ltx.TXID(2)
		for n := ltx.TXID(2); n <= last; n++ {
			if at(n).Truncate(span) != at(n+1).Truncate(span) && n < last { // n ends its period
				write(level, lo, n)
				lo = n + 1
			}
		}
	}
	if err := writeAlive(dir, alive{Time: at(last).Add(300 * time.Millisecond).UTC(), TXID: uint64(last)}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPlanAtWithoutListingL0 checks that PlanAt, which finds L0's files
// by name, plans what the whole listing plans: at 60 random times over an
// hour and five minutes of ticks, at the window's edges and outside it,
// in a chain with a segment past alive.json (a tick stopped between the
// two) and in one whose first segment is gone.
func TestPlanAtWithoutListingL0(t *testing.T) {
	backupDir := t.TempDir()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	dir := fakeChain(t, backupDir, "20261207T095959Z", "20261207T100000.000Z", t0, 65*60)
	second := fakeChain(t, backupDir, "20261207T120000Z", "20261207T120000.000Z", t0.Add(2*time.Hour), 200)

	plans := func(light bool, ats []time.Time) []string {
		t.Helper()
		lightL0 = light
		defer func() { lightL0 = true }()
		var out []string
		for _, at := range ats {
			p, err := PlanAt(context.Background(), backupDir, at)
			if err != nil {
				out = append(out, "error: "+err.Error())
				continue
			}
			b, _ := json.Marshal(struct {
				Base, Chain string
				From, To    time.Time
				Seen        time.Time
				TXID        uint64
				Files       []string
			}{p.Window.Base, p.Window.Chain, p.Window.From, p.Window.To, p.Seen, p.TXID, p.Files})
			out = append(out, string(b))
		}
		return out
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	check := func(what string) {
		t.Helper()
		ats := []time.Time{t0.Add(-time.Second), t0, t0.Add(time.Minute), t0.Add(time.Hour), t0.Add(65*time.Minute - time.Second),
			t0.Add(65 * time.Minute), t0.Add(66 * time.Minute), t0.Add(2*time.Hour + 100*time.Second), t0.Add(3 * time.Hour)}
		for range 60 {
			ats = append(ats, t0.Add(time.Duration(rnd.Int64N(int64(66*time.Minute)))))
		}
		light, full := plans(true, ats), plans(false, ats)
		for i := range ats {
			if light[i] != full[i] {
				t.Errorf("%s, at %s:\n light %s\n full  %s", what, ats[i].Format(time.RFC3339Nano), light[i], full[i])
			}
		}
		if !slices.ContainsFunc(full, func(s string) bool { return len(s) > 0 && s[0] == '{' }) {
			t.Fatalf("%s: no time planned at all", what)
		}
	}
	check("a chain as the replicator leaves it")

	// A segment past alive.json.
	h := ltx.Header{Version: ltx.Version, PageSize: 4096, Commit: 1, MinTXID: 65*60 + 2, MaxTXID: 65*60 + 2,
		Timestamp: t0.Add(65*60*time.Second + 500*time.Millisecond).UnixMilli(), PreApplyChecksum: ltx.ChecksumFlag | 1}
	b, _ := h.MarshalBinary()
	if err := os.WriteFile(filepath.Join(dir, "L0", ltx.FormatFilename(h.MinTXID, h.MaxTXID)), b, 0o600); err != nil {
		t.Fatal(err)
	}
	check("a segment past alive.json")

	// A chain copied from a target without its first segment.
	if err := os.Remove(filepath.Join(second, "L0", ltx.FormatFilename(2, 2))); err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(chainMeta{FormatVersion: 1, Base: "20261207T120000Z", Chain: "20261207T120000.000Z", PageSize: 4096, From: t0.Add(2 * time.Hour)})
	if err := os.WriteFile(filepath.Join(second, chainFile), meta, 0o600); err != nil {
		t.Fatal(err)
	}
	check("a chain without its first segment")
}

// TestWindowsKeepsOnlyQuietChains checks the cache behind Windows: a
// chain whose directories were last changed long ago is read once (a
// change that leaves their times as they were is not seen: the proof
// that the cache was used), any change that moves a time is seen, and a
// chain changed within the last seconds is read every time.
func TestWindowsKeepsOnlyQuietChains(t *testing.T) {
	backupDir := t.TempDir()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	dir := fakeChain(t, backupDir, "20261207T095959Z", "20261207T100000.000Z", t0, 120)
	dirs := []string{dir, filepath.Join(dir, "L0"), filepath.Join(dir, "L1"), filepath.Join(dir, "L2")}
	setTimes := func(at time.Time) {
		t.Helper()
		for _, d := range dirs {
			if err := os.Chtimes(d, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	l0Files := func() int {
		t.Helper()
		ws, err := Windows(context.Background(), backupDir)
		if err != nil || len(ws) != 1 {
			t.Fatalf("Windows: %v %v", ws, err)
		}
		return ws[0].Files[0]
	}
	drop := func(txid ltx.TXID) {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, "L0", ltx.FormatFilename(txid, txid))); err != nil {
			t.Fatal(err)
		}
	}

	long := time.Now().Add(-time.Hour)
	setTimes(long)
	if n := l0Files(); n != 120 {
		t.Fatalf("%d L0 files, want 120", n)
	}
	drop(50)
	setTimes(long)
	if n := l0Files(); n != 120 {
		t.Fatalf("a quiet chain was read again: %d L0 files, want the 120 it was read with", n)
	}
	drop(51) // the directory's time moves
	if n := l0Files(); n != 118 {
		t.Fatalf("after a change: %d L0 files, want 118", n)
	}

	recent := time.Now().Add(-500 * time.Millisecond)
	setTimes(recent)
	if n := l0Files(); n != 118 {
		t.Fatalf("%d L0 files, want 118", n)
	}
	drop(52)
	setTimes(recent)
	if n := l0Files(); n != 117 {
		t.Fatalf("a chain changed within the last seconds was taken from the cache: %d L0 files, want 117", n)
	}
}
