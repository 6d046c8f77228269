package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// changeInfo is what differs between two of ours' snapshots: the files of
// the newer one whose content the older one lacks at the same path (the
// database copy, the changed Chroma files), and those it has unchanged.
// An incremental push that sends only what changed sends ChangedBytes
// (plus encryption and HTTP overhead) and copies the rest on the server.
type changeInfo struct {
	ChangedFiles   int   `json:"changed_files"`
	ChangedBytes   int64 `json:"changed_bytes"`
	UnchangedFiles int   `json:"unchanged_files"`
	UnchangedBytes int64 `json:"unchanged_bytes"`
}

// diffSnapshots compares the regular files of the snapshot directories
// older and newer. A file is unchanged when it is the same inode (ours
// hardlinks unchanged Chroma files) or has the same bytes.
func diffSnapshots(older, newer string) (*changeInfo, error) {
	var c changeInfo
	buf1, buf2 := make([]byte, 1<<20), make([]byte, 1<<20)
	err := filepath.WalkDir(newer, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(newer, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		same, err := sameContent(filepath.Join(older, rel), p, fi, buf1, buf2)
		if err != nil {
			return err
		}
		if same {
			c.UnchangedFiles++
			c.UnchangedBytes += fi.Size()
		} else {
			c.ChangedFiles++
			c.ChangedBytes += fi.Size()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compare snapshots %s and %s: %w", older, newer, err)
	}
	return &c, nil
}

// sameContent reports whether the file at old has the content of the one
// at cur (whose FileInfo is fi); a missing old file is a change.
func sameContent(old, cur string, fi fs.FileInfo, buf1, buf2 []byte) (bool, error) {
	ofi, err := os.Stat(old)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if os.SameFile(ofi, fi) {
		return true, nil
	}
	if !ofi.Mode().IsRegular() || ofi.Size() != fi.Size() {
		return false, nil
	}
	a, err := os.Open(old)
	if err != nil {
		return false, err
	}
	defer a.Close()
	b, err := os.Open(cur)
	if err != nil {
		return false, err
	}
	defer b.Close()
	for { // bounded by the file's size
		n, errA := io.ReadFull(a, buf1)
		m, errB := io.ReadFull(b, buf2[:n])
		if m != n || !bytes.Equal(buf1[:n], buf2[:m]) {
			return false, nil
		}
		if errA != nil {
			if errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF) {
				return true, nil
			}
			return false, errA
		}
		if errB != nil {
			return false, errB
		}
	}
}

// latestSnapshots returns the snapshot directories of ours' backup
// directory, oldest first (stamps sort by time).
func latestSnapshots(backups string) ([]string, error) {
	dir := filepath.Join(backups, "snapshots")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) > 0 && e.Name()[0] >= '0' && e.Name()[0] <= '9' {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}
