package reliability_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/validate"
)

// Load: four writers insert memories at full speed into the live database
// (each its own connection pool, WAL, busy_timeout) while consecutive
// backups with Chroma run. Every snapshot must be valid, no writer may see
// an error, and the writers' throughput is reported with and without
// backups running.

const loadWriters = 4

// writers runs n writer goroutines until stop is closed and returns the
// number of inserts and the first error.
type writers struct {
	inserts atomic.Int64
	errMu   sync.Mutex
	err     error
	wg      sync.WaitGroup
	stop    chan struct{}
}

func startWriters(t *testing.T, dbPath string, n int) *writers {
	t.Helper()
	w := &writers{stop: make(chan struct{})}
	for i := range n {
		db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=rw&_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer db.Close()
			for seq := 0; ; seq++ {
				select {
				case <-w.stop:
					return
				default:
				}
				now := time.Now().UTC().Format(time.RFC3339Nano)
				_, err := db.Exec(`INSERT INTO memories (id, memory_type, content, project, confidence, status, created_at, updated_at)
					VALUES (?, 'episodic', ?, 'load', 1.0, 'active', ?, ?)`,
					fmt.Sprintf("load-%d-%d-%d", i, seq, time.Now().UnixNano()), fmt.Sprintf("writer %d insert %d", i, seq), now, now)
				if err != nil {
					w.errMu.Lock()
					if w.err == nil {
						w.err = fmt.Errorf("writer %d: %w", i, err)
					}
					w.errMu.Unlock()
					return
				}
				w.inserts.Add(1)
			}
		}()
	}
	return w
}

func (w *writers) finish() (int64, error) {
	close(w.stop)
	w.wg.Wait()
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.inserts.Load(), w.err
}

func TestLoadWritersDuringBackups(t *testing.T) {
	ctx := context.Background()
	r := genRoot(t, 0, 0, 2)
	cfg := configOf(r)
	creates := scaled(20, 20)
	baseline := 5 * time.Second
	if longMode() {
		baseline = 20 * time.Second
	}

	// Without backups: half before the backups and half after, so that a
	// change in the machine's load during the test does not bias the ratio.
	baselineRun := func() (int64, time.Duration) {
		w := startWriters(t, r.DBPath, loadWriters)
		start := time.Now()
		time.Sleep(baseline / 2)
		n, err := w.finish()
		if err != nil {
			t.Fatalf("writers without backups: %v", err)
		}
		return n, time.Since(start)
	}
	n0, d0 := baselineRun()

	// With consecutive backups.
	w := startWriters(t, r.DBPath, loadWriters)
	start := time.Now()
	var metas []*backup.Metadata
	var createTime time.Duration
	for i := range creates {
		cs := time.Now()
		m, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
		createTime += time.Since(cs)
		if err != nil {
			w.finish()
			t.Fatalf("create %d under load: %v", i, err)
		}
		if !m.Validated {
			t.Errorf("create %d: snapshot %s not validated: %v", i, m.Stamp, m.ValidationErrors)
		}
		metas = append(metas, m)
	}
	n1, err := w.finish()
	d1 := time.Since(start)
	if err != nil {
		t.Fatalf("a writer failed while backups ran: %v", err)
	}
	rate1 := float64(n1) / d1.Seconds()
	n2, d2 := baselineRun()
	n0, d0 = n0+n2, d0+d2
	rate0 := float64(n0) / d0.Seconds()

	// Every snapshot is valid, and each holds at least the rows of the one
	// before: each is one consistent moment of a growing database.
	prev := -1
	for _, m := range metas {
		res, err := validate.Snapshot(ctx, nil, r.BackupDir, m.Stamp)
		if err != nil || !res.Valid {
			t.Errorf("snapshot %s: %v %v", m.Stamp, err, res)
			continue
		}
		nrows, err := sample.CountMemories(ctx, copyOf(t, snapshot.Dir(r.BackupDir, m.Stamp)), "load")
		if err != nil {
			t.Fatal(err)
		}
		if nrows < prev {
			t.Errorf("snapshot %s holds %d writer rows, fewer than the snapshot before (%d)", m.Stamp, nrows, prev)
		}
		prev = nrows
	}
	t.Logf("FIGURE load: writers=%d without-backups=%.0f inserts/s (%d in %.1fs) with-backups=%.0f inserts/s (%d in %.1fs, %d creates with Chroma, %.0f ms each on average) ratio=%.2f",
		loadWriters, rate0, n0, d0.Seconds(), rate1, n1, d1.Seconds(), creates, float64(createTime.Milliseconds())/float64(creates), rate1/rate0)
}

// copyOf copies a snapshot's database to a private file (so that counting
// its rows never opens the snapshot read-write) and returns its path.
func copyOf(t *testing.T, snapDir string) string {
	t.Helper()
	dst := t.TempDir() + "/copy.db"
	if err := cloneFile(snapDir+"/"+snapshot.DBFile, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}
