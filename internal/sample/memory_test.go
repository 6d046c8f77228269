package sample

import (
	"context"
	"path/filepath"
	"testing"
)

func TestInsertMemoryAndCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := generate(t, Options{ChromaBytes: -1})
	all, err := CountMemories(ctx, root.DBPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if all != root.Counts.Memories {
		t.Errorf("CountMemories = %d, Generate reported %d", all, root.Counts.Memories)
	}
	if n, err := CountMemories(ctx, root.DBPath, "drill"); err != nil || n != 0 {
		t.Fatalf("drill memories before insert: %d, %v", n, err)
	}
	id, err := InsertMemory(ctx, root.DBPath, Memory{Type: "episodic", Content: "DRILL-MARKER", Project: "drill", Confidence: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 36 {
		t.Errorf("id %q is not a UUID", id)
	}
	if n, err := CountMemories(ctx, root.DBPath, "drill"); err != nil || n != 1 {
		t.Errorf("drill memories after insert: %d, %v", n, err)
	}
	if n, err := CountMemories(ctx, root.DBPath, ""); err != nil || n != all+1 {
		t.Errorf("all memories after insert: %d, %v; want %d", n, err, all+1)
	}
	db := openRO(t, root.DBPath)
	if got := queryString(t, db, "SELECT memory_type || '|' || content || '|' || confidence || '|' || status FROM memories WHERE id = ?", id); got != "episodic|DRILL-MARKER|1.0|active" {
		t.Errorf("inserted row: %q", got)
	}
	if got := queryString(t, db, "PRAGMA journal_mode"); got != "wal" {
		t.Errorf("journal_mode after insert: %q", got)
	}
}

func TestInsertMemoryRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := generate(t, Options{ChromaBytes: -1})
	if _, err := InsertMemory(ctx, root.DBPath, Memory{Type: "gossip", Content: "x"}); err == nil {
		t.Error("memory_type gossip accepted")
	}
	missing := filepath.Join(t.TempDir(), "none.db")
	if _, err := InsertMemory(ctx, missing, Memory{Content: "x"}); err == nil {
		t.Error("InsertMemory created a database")
	}
	if _, err := CountMemories(ctx, missing, ""); err == nil {
		t.Error("CountMemories on a missing database succeeded")
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := generate(t, Options{ChromaBytes: -1})
	f1, err := Fingerprint(ctx, root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(f1) != 64 {
		t.Errorf("fingerprint %q is not sha256 hex", f1)
	}
	f2, err := Fingerprint(ctx, root.DBPath)
	if err != nil || f2 != f1 {
		t.Errorf("fingerprint not stable: %s %s %v", f1, f2, err)
	}
	// VACUUM rewrites every page but not the content.
	db, err := openLive(ctx, root.DBPath, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("VACUUM"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if f, err := Fingerprint(ctx, root.DBPath); err != nil || f != f1 {
		t.Errorf("fingerprint changed by VACUUM: %s %s %v", f1, f, err)
	}
	if _, err := InsertMemory(ctx, root.DBPath, Memory{Content: "DRILL-MARKER", Project: "drill"}); err != nil {
		t.Fatal(err)
	}
	f3, err := Fingerprint(ctx, root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if f3 == f1 {
		t.Error("fingerprint unchanged after InsertMemory")
	}
	if f4, err := Fingerprint(ctx, root.DBPath); err != nil || f4 != f3 {
		t.Errorf("fingerprint not stable after insert: %s %s %v", f3, f4, err)
	}
}
