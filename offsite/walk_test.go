package offsite

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

// dupLister is a TreeLister whose listing names every file twice, as a
// server whose pagination repeats keys would.
type dupLister struct{ afero.Fs }

func (d dupLister) ListTree(dir string, fn func(string, fs.FileInfo) error) error {
	return afero.Walk(d.Fs, dir, func(p string, info fs.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, dir+"/")
		if err := fn(rel, info); err != nil {
			return err
		}
		return fn(rel, info)
	})
}

// A listing that repeats a name cannot stand in for a missing file.
func TestVerifyIncomingCountsEachNameOnce(t *testing.T) {
	mem := afero.NewMemMapFs()
	_ = mem.MkdirAll("/snap", 0o700)
	_ = afero.WriteFile(mem, "/snap/a.age", []byte("aaaa"), 0o600)
	files := []snapshot.File{{Path: "a.age", Size: 4}, {Path: "b.age", Size: 4}}
	if err := verifyIncoming(dupLister{mem}, "/snap", files, false, false); err == nil {
		t.Fatal("verifyIncoming passed a snapshot that lacks b.age (a.age listed twice)")
	}
	_ = afero.WriteFile(mem, "/snap/b.age", []byte("bbbb"), 0o600)
	if err := verifyIncoming(dupLister{mem}, "/snap", files, false, false); err != nil {
		t.Fatalf("verifyIncoming of a complete snapshot listed twice: %v", err)
	}
}

// The journal written beside an upload on a target holds no upload in
// parts: their age file keys never leave this machine.
func TestTargetJournalHoldsNoFileKeys(t *testing.T) {
	mem := afero.NewMemMapFs()
	_ = mem.MkdirAll("/in", 0o700)
	jr := &journal{KeyID: "recipients:age1x", Files: map[string]snapshot.File{"a.age": {Path: "a.age", Size: 1}},
		Uploads: map[string]partUpload{"u db.age": {Target: "u", Path: "db.age", ID: "up", Plain: "00", Key: []byte("0123456789abcdef"), Nonce: []byte("fedcba9876543210")}}}
	if err := writeJournal(mem, "/in", jr); err != nil {
		t.Fatal(err)
	}
	data, err := afero.ReadFile(mem, "/in/"+journalFile)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(data); strings.Contains(s, "age_file_key") || strings.Contains(s, "uploads") || !strings.Contains(s, "a.age") {
		t.Fatalf("the target's journal: %s", data)
	}
}
