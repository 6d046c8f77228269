package targettest

import (
	"errors"
	"os"
	"path"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/target"
)

// The optional capabilities, checked where a target advertises them.

// skipUnsupported skips when a capability turns out to be missing at the
// far end.
func skipUnsupported(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("not offered by this target: %v", err)
	}
}

func testLink(t *testing.T, fsys afero.Fs, root string) {
	l, ok := fsys.(target.Linker)
	if !ok {
		t.Skip("no target.Linker")
	}
	a, b := path.Join(root, "a"), path.Join(root, "b")
	WriteFile(t, fsys, a, []byte("shared"))
	err := l.Link(a, b)
	if errors.Is(err, errors.ErrUnsupported) {
		// No links here (a server without hardlink@openssh.com, or one
		// whose links are not real): fine, as long as the error says so
		// and nothing is left under the new name.
		if _, serr := fsys.Stat(b); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("Link failed (%v) but left %s: %v", err, b, serr)
		}
		t.Logf("no hard links on this target: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if got := ReadFile(t, fsys, b); string(got) != "shared" {
		t.Errorf("link content = %q", got)
	}
	wantErr(t, "Link onto an existing name", l.Link(a, b), os.ErrExist)
	wantErr(t, "Link of a missing file", l.Link(path.Join(root, "missing"), path.Join(root, "c")), os.ErrNotExist)
	if err := fsys.Remove(a); err != nil {
		t.Fatal(err)
	}
	if got := ReadFile(t, fsys, b); string(got) != "shared" {
		t.Errorf("after removing the first name: %q", got)
	}
}

func testPosixRename(t *testing.T, fsys afero.Fs, root string) {
	r, ok := fsys.(target.PosixRenamer)
	if !ok {
		t.Skip("no target.PosixRenamer")
	}
	a, b := path.Join(root, "a"), path.Join(root, "b")
	WriteFile(t, fsys, a, []byte("new"))
	WriteFile(t, fsys, b, []byte("old"))
	err := r.PosixRename(a, b)
	skipUnsupported(t, err)
	if err != nil {
		t.Fatalf("PosixRename: %v", err)
	}
	if got := ReadFile(t, fsys, b); string(got) != "new" {
		t.Errorf("replaced content = %q", got)
	}
	if _, err := fsys.Stat(a); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old name still there: %v", err)
	}
}

func testDirSyncer(t *testing.T, fsys afero.Fs, root string) {
	s, ok := fsys.(target.DirSyncer)
	if !ok {
		t.Skip("no target.DirSyncer")
	}
	if err := s.SyncDir(root); err != nil {
		t.Errorf("SyncDir(root): %v", err)
	}
	wantErr(t, "SyncDir of a missing directory", s.SyncDir(path.Join(root, "missing")), os.ErrNotExist)
}

func testSpaceReporter(t *testing.T, fsys afero.Fs, root string) {
	s, ok := fsys.(target.SpaceReporter)
	if !ok {
		t.Skip("no target.SpaceReporter")
	}
	n, err := s.FreeSpace(root)
	skipUnsupported(t, err)
	if err != nil || n == 0 {
		t.Errorf("FreeSpace(root) = %d, %v", n, err)
	}
}
