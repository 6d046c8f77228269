package restore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

// execLive runs statements on the live database through SQLite.
func execLive(t *testing.T, dbPath string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// liveDigest is the digest of every table's rows, whatever the schema.
func liveDigest(t *testing.T, dbPath string) string {
	t.Helper()
	c, err := sqlitedb.ReadContent(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	return c.Digest
}

// tables lists the live database's tables.
func tables(t *testing.T, dbPath string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// The built-in marker lives in a table of the drill's own, so a drill
// passes whatever the service's tables look like.
func TestDrillAssumesNoServiceColumns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset []string
	}{
		{"no memories table", []string{"PRAGMA foreign_keys = OFF", "DROP TABLE memories"}},
		{"memories with other columns", []string{"PRAGMA foreign_keys = OFF", "DROP TABLE memories",
			"CREATE TABLE memories (pk INTEGER PRIMARY KEY, blob BLOB NOT NULL)", "INSERT INTO memories (blob) VALUES (x'00ff')"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Root(t)
			execLive(t, r.DBPath, tc.reset...)
			before := tables(t, r.DBPath)
			baseline := liveDigest(t, r.DBPath)
			rec, err := restore.Drill(context.Background(), testutil.Config(r), restore.DrillOptions{ConfirmServiceStopped: true})
			if err != nil {
				t.Fatalf("%v (record %+v)", err, rec)
			}
			if !rec.Pass {
				t.Fatalf("record = %+v", rec)
			}
			if got := tables(t, r.DBPath); !slices.Equal(got, before) {
				t.Fatalf("tables after the drill %v, before %v", got, before)
			}
			if liveDigest(t, r.DBPath) != baseline {
				t.Fatal("the drill changed the live data")
			}
		})
	}
}

// memoryMarker is a MarkerWriter as an embedding server would provide: it
// writes through the service's own table (here the sample's memories).
type memoryMarker struct {
	dbPath string
	calls  []string
}

func (m *memoryMarker) exec(ctx context.Context, q string, args ...any) error {
	db, err := sql.Open("sqlite", "file:"+m.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, q, args...)
	return err
}

func (m *memoryMarker) WriteMarker(ctx context.Context, text string) error {
	m.calls = append(m.calls, "write")
	return m.exec(ctx, `INSERT INTO memories (id, memory_type, content, project, confidence, created_at, updated_at)
		VALUES (?, 'episodic', ?, 'drill', 1.0, datetime('now'), datetime('now'))`, text, text)
}

func (m *memoryMarker) CountMarker(ctx context.Context, text string) (int, error) {
	m.calls = append(m.calls, "count")
	db, err := sql.Open("sqlite", "file:"+m.dbPath+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM memories WHERE content = ?`, text).Scan(&n)
	return n, err
}

func (m *memoryMarker) RemoveMarker(ctx context.Context, text string) error {
	m.calls = append(m.calls, "remove")
	return m.exec(ctx, `DELETE FROM memories WHERE content = ?`, text)
}

var _ restore.MarkerWriter = (*memoryMarker)(nil)

// A drill given the server's MarkerWriter writes through it only.
func TestDrillWritesThroughTheServersMarker(t *testing.T) {
	r := testutil.Root(t)
	m := &memoryMarker{dbPath: r.DBPath}
	rec, err := restore.Drill(context.Background(), testutil.Config(r), restore.DrillOptions{ConfirmServiceStopped: true, Marker: m})
	if err != nil || !rec.Pass {
		t.Fatalf("%+v, %v", rec, err)
	}
	if len(m.calls) < 2 || m.calls[0] != "write" || slices.Contains(m.calls, "remove") {
		t.Fatalf("marker calls %v", m.calls)
	}
	if slices.Contains(tables(t, r.DBPath), restore.DrillTable) {
		t.Fatal("the built-in marker table was created beside the server's marker")
	}
	if n := drillCount(t, r.DBPath); n != 0 {
		t.Fatalf("%d markers left after the restore", n)
	}
}

// A drill whose restore did not happen removes its marker (and the table it
// created), says so, and is logged with pass false.
func TestDrillWithoutRestoreRemovesItsMarker(t *testing.T) {
	sabotage := map[string]func(t *testing.T, backupDir, stamp string) error{
		"AfterMark fails": func(*testing.T, string, string) error { return errors.New("sabotaged after the marker") },
		"restore refuses": func(t *testing.T, backupDir, stamp string) error {
			testutil.Corrupt(t, filepath.Join(backupDir, "snapshots", stamp, "db", "atocore.db"), 4096, 16)
			return nil
		},
	}
	for name, hook := range sabotage {
		for _, custom := range []bool{false, true} {
			t.Run(name+map[bool]string{false: ", built-in marker", true: ", server's marker"}[custom], func(t *testing.T) {
				r := testutil.Root(t)
				cfg := testutil.Config(r)
				before := tables(t, r.DBPath)
				baseline := liveDigest(t, r.DBPath)
				opts := restore.DrillOptions{ConfirmServiceStopped: true,
					AfterMark: func(stamp string) error {
						if !custom && !slices.Contains(tables(t, r.DBPath), restore.DrillTable) {
							t.Error("the built-in marker table is not there after the marker was written")
						}
						return hook(t, r.BackupDir, stamp)
					}}
				m := &memoryMarker{dbPath: r.DBPath}
				if custom {
					opts.Marker = m
				}
				rec, err := restore.Drill(context.Background(), cfg, opts)
				if err == nil || rec == nil || rec.Pass {
					t.Fatalf("sabotaged drill: %+v, %v", rec, err)
				}
				if got := tables(t, r.DBPath); !slices.Equal(got, before) {
					t.Fatalf("tables after the failed drill %v, before %v", got, before)
				}
				if n := drillCount(t, r.DBPath); n != 0 || liveDigest(t, r.DBPath) != baseline {
					t.Fatalf("the failed drill left its marker (%d) or changed the live data", n)
				}
				if custom && !slices.Contains(m.calls, "remove") {
					t.Fatalf("the server's marker was not asked to remove it: %v", m.calls)
				}
				log, _ := restore.ReadDrillLog(cfg)
				if len(log) != 1 || log[0].Pass || !strings.Contains(strings.Join(log[0].Surprises, "\n"), "marker removed") {
					t.Fatalf("log = %+v", log)
				}
			})
		}
	}
}

// The built-in marker table is one the service never has.
func TestDrillTableName(t *testing.T) {
	if restore.DrillTable != "atocore_backup_drill" {
		t.Fatalf("DrillTable = %q; SPEC names atocore_backup_drill", restore.DrillTable)
	}
	_ = backup.KindDrill
}
