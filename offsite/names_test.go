package offsite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

// A Chroma file whose name is not UTF-8 survives push, pull and restore
// on a fresh machine, plaintext or encrypted, on a disk or in-memory target.
func TestNonUTF8ChromaNamePushesAndPulls(t *testing.T) {
	const oddName = "\xff\xfe.bin"
	r := testutil.Root(t)
	segs, _ := filepath.Glob(filepath.Join(r.ChromaPath, "*", "header.bin"))
	if len(segs) == 0 {
		t.Fatal("sample Chroma directory has no segment")
	}
	odd := filepath.Join(filepath.Dir(segs[0]), oddName)
	want := bytes.Repeat([]byte("odd name\x00"), 700)
	if err := os.WriteFile(odd, want, 0o600); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(r.ChromaPath, odd)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	rs, ids := keys(t)
	for name, c := range map[string]struct {
		remote  Remote
		sealing Sealing
		opening Opening
	}{
		"os plaintext":  {remote: osRemote(t)},
		"mem plaintext": {remote: Remote{FS: afero.NewMemMapFs(), Root: "/offsite", URL: "mem://"}},
		"os encrypted":  {remote: osRemote(t), sealing: Sealing{Recipients: rs}, opening: Opening{Identities: ids}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := pushRemote(context.Background(), testutil.Config(r), c.remote, PushOptions{Sealing: c.sealing}); err != nil {
				t.Fatal(err)
			}
			v, err := validateRemote(context.Background(), c.remote, m.Stamp, c.opening)
			if err != nil || !v.Valid {
				t.Fatalf("remote validate = %+v, %v", v, err)
			}
			fresh := t.TempDir()
			cfg := backup.Config{Paths: backup.Paths{Root: fresh}}
			if _, err := pullRemote(context.Background(), cfg, c.remote, m.Stamp, Opening{Identities: c.opening.Identities, Trust: allowUnsigned}); err != nil {
				t.Fatal(err)
			}
			if _, err := restore.Run(context.Background(), cfg, m.Stamp, restore.Options{ConfirmServiceStopped: true}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(fresh, "data", "chroma", rel))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("restored %q: %d bytes, %v; want %d", rel, len(got), err, len(want))
			}
		})
	}
}
