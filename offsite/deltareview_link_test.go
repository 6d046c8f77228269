package offsite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// Two Chroma files with the same bytes under different names (here two
// 1 MiB files): on the second, unchanged push both are linked, as before
// the link() name guard.
func TestUnchangedTwinFilesAreLinked(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{Seed: 9, ChromaBytes: 1 << 20, Segments: 1})
		if err != nil {
			t.Fatal(err)
		}
		twin := bytes.Repeat([]byte("twin"), 1<<18)
		for _, n := range []string{"twin-a.bin", "twin-b.bin"} {
			if err := os.WriteFile(filepath.Join(r.ChromaPath, n), twin, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var seal Sealing
		if encrypted {
			rs, _ := keys(t)
			seal = Sealing{Recipients: rs}
		}
		remote := osRemote(t)
		testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
		if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: seal}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
		second, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: seal})
		if err != nil {
			t.Fatal(err)
		}
		p := second.Pushed[0]
		t.Logf("encrypted=%v: files %d linked %d sent %d (%d bytes)", encrypted, p.Files, p.Linked, p.Sent, p.BytesSent)
		if p.BytesSent > 1<<19 {
			t.Errorf("encrypted=%v: an unchanged snapshot sent %d bytes (%d files of %d)", encrypted, p.BytesSent, p.Sent, p.Files)
		}
	}
}
