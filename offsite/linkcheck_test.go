package offsite

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
)

// sameFile tells a real hard link from what a server may leave instead.
func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("unchanged"), 0o600); err != nil {
		t.Fatal(err)
	}
	mk := map[string]func(dst string) error{
		"hard link": func(dst string) error { return os.Link(src, dst) },
		"copy":      func(dst string) error { return os.WriteFile(dst, []byte("unchanged"), 0o600) },
		"missing":   func(string) error { return nil },
		"shorter":   func(dst string) error { return os.WriteFile(dst, []byte("x"), 0o600) },
		"directory": func(dst string) error { return os.Mkdir(dst, 0o700) },
		"symlink":   func(dst string) error { return os.Symlink(src, dst) },
	}
	for name, make := range mk {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(dir, name)
			if err := make(dst); err != nil {
				t.Fatal(err)
			}
			err := sameFile(afero.NewOsFs(), src, dst)
			if name == "hard link" {
				if err != nil {
					t.Fatalf("a real link refused: %v", err)
				}
				return
			}
			if !errors.Is(err, durable.ErrLinkNotMade) || !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("%s accepted as a link: %v", name, err)
			}
		})
	}
}
