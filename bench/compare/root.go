package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// racyWait is how long the change step waits before the incremental
// backups: ours treats a file modified within the second before a
// snapshot starts as possibly still changing, and copies it.
const racyWait = 1100 * time.Millisecond

// atocoreRoot is a generated AtoCore root: the live paths every tool backs up.
type atocoreRoot struct {
	shape    string // the dataset shape (internal/sample)
	size     int    // MiB of database and of Chroma, each
	dir      string
	db       string // data/db/atocore.db
	registry string // config/project-registry.json
	chroma   string // data/chroma
}

func newRoot(dir, shape string, size int) atocoreRoot {
	return atocoreRoot{
		shape:    shape,
		size:     size,
		dir:      dir,
		db:       filepath.Join(dir, "data", "db", "atocore.db"),
		registry: filepath.Join(dir, "config", "project-registry.json"),
		chroma:   filepath.Join(dir, "data", "chroma"),
	}
}

// label names the root in log files: s16 for the random shape (as before
// the shapes), text-s16 for another.
func (r atocoreRoot) label() string {
	if r.shape == "" || r.shape == "random" {
		return fmt.Sprintf("s%d", r.size)
	}
	return fmt.Sprintf("%s-s%d", r.shape, r.size)
}

// backups is ours' backup directory, ROOT/backups.
func (r atocoreRoot) backups() string { return filepath.Join(r.dir, "backups") }

// sources are the directories restic and borg back up (ours and
// sqlite3+cp name the three live paths instead).
func (r atocoreRoot) sources() []string {
	return []string{filepath.Join(r.dir, "data"), filepath.Join(r.dir, "config")}
}

// rootInfo describes one generated root, from bench/gen's output.
type rootInfo struct {
	Shape         string  `json:"shape"`
	SizeMiB       int     `json:"size_mib"`
	Segments      int     `json:"segments"` // as bench/gen reported them
	DBBytes       int64   `json:"db_bytes"`
	RegistryBytes int64   `json:"registry_bytes"`
	ChromaBytes   int64   `json:"chroma_bytes"`
	ChromaFiles   int64   `json:"chroma_files"`
	GenSeconds    float64 `json:"gen_seconds"`
	Reused        bool    `json:"reused,omitempty"`
}

// parseGenOutput reads bench/gen's "name value" lines.
func parseGenOutput(b []byte, info *rootInfo) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "db_bytes":
			info.DBBytes = n
		case "registry_bytes":
			info.RegistryBytes = n
		case "chroma_bytes":
			info.ChromaBytes = n
		case "chroma_files":
			info.ChromaFiles = n
		case "segments":
			info.Segments = int(n)
		}
	}
}

// warm reads every file under dirs once, so that the timed commands start
// with the page cache warm, as on a server where the data is in use.
func warm(ctx context.Context, dirs ...string) error {
	buf := make([]byte, 1<<20)
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
			return err
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("warm the page cache with %s: %w", d, err)
		}
	}
	return nil
}

// treeShape maps every regular file under dir (relative path) to its size.
func treeShape(dir string) (map[string]int64, error) {
	shape := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		shape[rel] = fi.Size()
		return nil
	})
	return shape, err
}

// sameShape checks that got holds the files of want with the same sizes:
// the cheap check that a restore brought back the root's content (a
// content hash would cost as much as the restore). SQLite's -wal and -shm
// sidecars are ignored: a restore may leave or remove them.
func sameShape(got, want string) error {
	g, err := treeShape(got)
	if err != nil {
		return fmt.Errorf("restored tree %s: %w", got, err)
	}
	w, err := treeShape(want)
	if err != nil {
		return fmt.Errorf("live tree %s: %w", want, err)
	}
	sidecar := func(p string) bool { return strings.HasSuffix(p, "-wal") || strings.HasSuffix(p, "-shm") }
	for p, size := range w {
		if sidecar(p) {
			continue
		}
		gs, ok := g[p]
		if !ok {
			return fmt.Errorf("restored tree %s lacks %s", got, p)
		}
		if gs != size {
			return fmt.Errorf("restored %s is %d bytes, the live one %d", filepath.Join(got, p), gs, size)
		}
	}
	for p := range g {
		if _, ok := w[p]; !ok && !sidecar(p) {
			return fmt.Errorf("restored tree %s has %s, which the live tree lacks", got, p)
		}
	}
	return nil
}
