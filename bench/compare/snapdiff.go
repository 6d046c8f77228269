package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	// DBPageBytes is the size of the database's pages that differ between
	// the two copies (or that the older lacks), DBBytes the newer copy's
	// size: what a push that sends changed pages must send of it.
	DBPageBytes int64 `json:"db_page_bytes,omitempty"`
	DBBytes     int64 `json:"db_bytes,omitempty"`
}

// pageChangedBytes is ChangedBytes with the database counted by its
// changed pages instead of whole.
func (c *changeInfo) pageChangedBytes() int64 { return c.ChangedBytes - c.DBBytes + c.DBPageBytes }

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
			if filepath.ToSlash(rel) == "db/atocore.db" {
				c.DBBytes = fi.Size()
				if c.DBPageBytes, err = changedPages(filepath.Join(older, rel), p); err != nil {
					return err
				}
			}
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

// changedPages is the size of the pages of the database copy cur that the
// copy old lacks or holds otherwise (the page size from cur's header).
// Both are snapshot copies, which nothing writes: read as plain files,
// a page at a time (this process's size is in every child's peak RSS:
// fork copies it).
func changedPages(old, cur string) (int64, error) {
	b, err := os.Open(cur)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	var hdr [100]byte
	if n, err := io.ReadFull(b, hdr[:]); err != nil {
		return int64(n), nil // shorter than a header: counted whole
	}
	size := int(binary.BigEndian.Uint16(hdr[16:18]))
	if size == 1 {
		size = 65536
	}
	if size < 512 {
		return 0, fmt.Errorf("%s: page size %d in its header", cur, size)
	}
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var ar io.Reader = strings.NewReader("")
	if a, err := os.Open(old); err == nil {
		defer a.Close()
		ar = a
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	ra, rb := bufio.NewReaderSize(ar, 1<<20), bufio.NewReaderSize(b, 1<<20)
	pa, pb := make([]byte, size), make([]byte, size)
	var n int64
	for { // bounded by cur's size
		m, errB := io.ReadFull(rb, pb)
		if m == 0 {
			if errors.Is(errB, io.EOF) {
				return n, nil
			}
			return n, errB
		}
		k, _ := io.ReadFull(ra, pa[:m])
		if k != m || !bytes.Equal(pa[:m], pb[:m]) {
			n += int64(m)
		}
		if errB != nil {
			if errors.Is(errB, io.ErrUnexpectedEOF) {
				return n, nil
			}
			return n, errB
		}
	}
}
