package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/replica"
)

// replicator is one tool under test, on its own copy of the root.
type replicator interface {
	name() string
	dbPath() string
	// prepare readies the tool's copy (ours: the base snapshot).
	prepare(ctx context.Context) error
	// start starts the replicator process.
	start(ctx context.Context) (*proc, error)
	// restore rebuilds the newest state the replica holds into a file
	// under scratch and returns its path and a note on what it replayed.
	restore(ctx context.Context, scratch string) (path, note string, err error)
}

// ours is `atocore-backup replicate` on its root.
type ours struct {
	bin      string
	root     *sample.Root
	interval time.Duration
	logDir   string
	env      []string
	chains   int // chains listed at the last restore
}

func (o *ours) name() string   { return "ours" }
func (o *ours) dbPath() string { return o.root.DBPath }

func (o *ours) prepare(ctx context.Context) error {
	_, err := runBounded(ctx, 5*time.Minute, o.bin, []string{"create", "--root", o.root.Dir}, o.env)
	return err
}

func (o *ours) start(ctx context.Context) (*proc, error) {
	cmd := exec.Command(o.bin, "replicate", "--root", o.root.Dir, "--interval", o.interval.String())
	cmd.Env = o.env
	return startProc("atocore-backup replicate", cmd, filepath.Join(o.logDir, "ours-replicate.log"))
}

// restore uses the library, as restore --at does: the newest chain's
// window, rebuilt at its To over a copy of its base snapshot's database.
func (o *ours) restore(ctx context.Context, scratch string) (string, string, error) {
	ws, err := replica.Windows(ctx, o.root.BackupDir)
	if err != nil {
		return "", "", err
	}
	if len(ws) == 0 {
		return "", "", errors.New("no replication chain")
	}
	o.chains = len(ws)
	w := ws[len(ws)-1]
	p, err := replica.PlanAt(ctx, o.root.BackupDir, w.To)
	if err != nil {
		return "", "", err
	}
	out := filepath.Join(scratch, "ours-restored.db")
	if err := copyFile(filepath.Join(snapshot.Dir(o.root.BackupDir, p.Window.Base), filepath.FromSlash(snapshot.DBFile)), out); err != nil {
		return "", "", err
	}
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	if err := p.Rebuild(ctx, f); err != nil {
		return "", "", err
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	return out, fmt.Sprintf("chain %d, %d files, seen %s", len(ws), len(p.Files), p.Seen.Format("15:04:05.000")), nil
}

// litestream is `litestream replicate` with a file replica.
type litestream struct {
	bin        string
	root       *sample.Root
	interval   time.Duration
	replicaDir string
	config     string
	logDir     string
}

func (l *litestream) name() string   { return "litestream" }
func (l *litestream) dbPath() string { return l.root.DBPath }

// litestreamConfig is the whole configuration: one database, one file
// replica, the monitor (WAL -> local LTX) and sync (local -> replica)
// intervals at the bench's interval; everything else at its default.
func (l *litestream) prepare(ctx context.Context) error {
	cfg := fmt.Sprintf(`# written by bench/replicate
dbs:
  - path: %s
    monitor-interval: %s
    replica:
      type: file
      path: %s
      sync-interval: %s
`, l.root.DBPath, l.interval, l.replicaDir, l.interval)
	return os.WriteFile(l.config, []byte(cfg), 0o600)
}

func (l *litestream) start(ctx context.Context) (*proc, error) {
	cmd := exec.Command(l.bin, "replicate", "-config", l.config)
	cmd.Env = os.Environ()
	return startProc("litestream replicate", cmd, filepath.Join(l.logDir, "litestream-replicate.log"))
}

func (l *litestream) restore(ctx context.Context, scratch string) (string, string, error) {
	out := filepath.Join(scratch, "litestream-restored.db")
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(out + s)
	}
	msg, err := runBounded(ctx, 2*time.Minute, l.bin, []string{"restore", "-json", "-config", l.config, "-o", out, l.root.DBPath}, os.Environ())
	if err != nil {
		return "", "", err
	}
	var sum struct {
		TXID       string `json:"txid"`
		DurationMS int64  `json:"duration_ms"`
	}
	if i := strings.IndexByte(msg, '{'); i < 0 || json.Unmarshal([]byte(msg[i:]), &sum) != nil {
		return out, lastLine(msg), nil
	}
	return out, fmt.Sprintf("txid %s, restore %d ms", strings.TrimLeft(sum.TXID, "0"), sum.DurationMS), nil
}

// lastOursStatus is the last status object `atocore-backup replicate`
// printed (at its stop) in log.
func lastOursStatus(log string) oursStatus {
	var st oursStatus
	i := strings.LastIndex(log, "\n{\n")
	if i < 0 {
		return st
	}
	j := strings.Index(log[i:], "\n}\n")
	if j < 0 {
		return st
	}
	_ = json.Unmarshal([]byte(log[i+1:i+j+2]), &st)
	return st
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 160 {
		s = s[:160]
	}
	return s
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
