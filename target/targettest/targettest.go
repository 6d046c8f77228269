// Package targettest is the conformance suite every target.Target passes:
// the filesystem semantics that pushing, listing, validating and pruning
// rely on (exclusive create, rename that never replaces a directory,
// recursive removal, os.ErrNotExist, sorted listings, streaming uploads),
// the optional capabilities a target advertises, and real snapshots
// listed, validated and pruned in place on the target.
//
//	func TestLocal(t *testing.T) {
//		targettest.Run(t, func(t *testing.T) target.Target {
//			tgt, err := target.Local(t.TempDir())
//			if err != nil { t.Fatal(err) }
//			return tgt
//		}, targettest.Link, targettest.PosixRename, targettest.DirSync, targettest.FreeSpace)
//	}
//
// A new backend adds one such function, naming the optional capabilities
// it offers: each is held to work, and the others to be absent. A new
// guarantee is one more subtest here, and every backend is held to it.
package targettest

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/target"
)

// Opener returns a fresh, empty target for one subtest, and registers its
// own cleanup (t.Cleanup); Run closes the target at the end of the subtest.
type Opener func(t *testing.T) target.Target

// StreamBytes is the size of the streamed upload the suite checks.
const StreamBytes = 32 << 20

// Options adjust the suite to one server.
type Options struct {
	// Has declares the optional capabilities the backend offers: each is
	// held to work, and every other one to be absent (or to answer
	// errors.ErrUnsupported from the far end).
	Has []Capability
	// Omit names subtests not run, each with the reason (a known defect
	// of the server that the product does not depend on). The reason is
	// logged; a name the suite does not have fails the run, so that a
	// renamed subtest cannot silently stay omitted.
	Omit map[string]string
}

// Run runs the conformance suite against the targets open makes, which
// offer the capabilities has and no others.
func Run(t *testing.T, open Opener, has ...Capability) { RunWith(t, open, Options{Has: has}) }

// RunWith is Run with options.
func RunWith(t *testing.T, open Opener, o Options) {
	tests := []struct {
		name string
		fn   func(t *testing.T, fsys afero.Fs, root string)
	}{
		{"WriteRead", testWriteRead},
		{"CreateExclusive", testCreateExclusive},
		{"CreateInMissingDir", testCreateInMissingDir},
		{"Stream32MiB", testStream},
		{"DurableCopy", testDurableCopy},
		{"SeekReadAtWriteAt", testSeekReadAtWriteAt},
		{"Mkdir", testMkdir},
		{"RenameFile", testRenameFile},
		{"RenameDirNeverReplaces", testRenameDir},
		{"Remove", testRemove},
		{"RemoveAll", testRemoveAll},
		{"ReadDirSorted", testReadDir},
		{"NotExist", testNotExist},
		{"ChmodChtimes", testChmodChtimes},
		{"Sync", testSync},
	}
	for _, c := range capabilities {
		declared := slices.Contains(o.Has, c.name)
		tests = append(tests, struct {
			name string
			fn   func(t *testing.T, fsys afero.Fs, root string)
		}{string(c.name), func(t *testing.T, fsys afero.Fs, root string) { c.fn(t, fsys, root, declared) }})
	}
	for _, c := range o.Has {
		if !slices.ContainsFunc(capabilities, func(k struct {
			name Capability
			fn   func(t *testing.T, fsys afero.Fs, root string, declared bool)
		}) bool {
			return k.name == c
		}) {
			t.Errorf("Options.Has names %q, which the suite does not know", c)
		}
	}
	for name := range o.Omit {
		if !slices.ContainsFunc(tests, func(tc struct {
			name string
			fn   func(t *testing.T, fsys afero.Fs, root string)
		}) bool {
			return tc.name == name
		}) {
			t.Errorf("Options.Omit names %q, which is not a subtest", name)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := o.Omit[tc.name]; ok {
				t.Logf("omitted for this server: %s", why)
				return
			}
			tgt := openTarget(t, open)
			tc.fn(t, tgt.FS(), tgt.Root())
		})
	}
	t.Run("URL", func(t *testing.T) {
		tgt := openTarget(t, open)
		if tgt.URL() == "" {
			t.Fatal("empty URL")
		}
	})
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, open) })
	t.Run("CloseTwice", func(t *testing.T) {
		tgt := open(t)
		if err := tgt.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_ = tgt.Close() // must not panic or hang
	})
}

func openTarget(t *testing.T, open Opener) target.Target {
	t.Helper()
	tgt := open(t)
	t.Cleanup(func() { _ = tgt.Close() })
	return tgt
}

// WriteFile creates name on fsys with data (failing the test on error).
func WriteFile(t testing.TB, fsys afero.Fs, name string, data []byte) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

// ReadFile reads name from fsys (failing the test on error).
func ReadFile(t testing.TB, fsys afero.Fs, name string) []byte {
	t.Helper()
	b, err := afero.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func mkdir(t testing.TB, fsys afero.Fs, name string) {
	t.Helper()
	if err := fsys.Mkdir(name, 0o700); err != nil {
		t.Fatalf("mkdir %s: %v", name, err)
	}
}

func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}
