package offsite

import (
	"path/filepath"
	"testing"

	"github.com/spf13/afero"
)

// PushedTargets reads back what pushes saved, per target, and ignores
// the other files of the state directory and a state file that does not parse.
func TestPushedTargets(t *testing.T) {
	fsys := afero.NewMemMapFs()
	const dir = "/backups"
	if got, err := PushedTargets(fsys, dir); err != nil || len(got) != 0 {
		t.Fatalf("no state directory: %v %v", got, err)
	}
	a := loadState(fsys, dir, "sftp://a/x")
	a.add(&stateEntry{Stamp: "20261201T030000Z"})
	a.add(&stateEntry{Stamp: "20261203T030000Z"})
	a.add(&stateEntry{Stamp: "20261202T030000Z"}) // pushed late: the newest stamp counts
	b := loadState(fsys, dir, "s3://b/y")
	b.add(&stateEntry{Stamp: "20261130T030000Z"})
	for _, st := range []*pushState{a, b} {
		if err := st.save(fsys); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"0123456789abcdef.json":          "{broken",
		"seq-0123456789abcdef.json":      `{"target": "sftp://seq/"}`,
		"incoming-20261201T030000Z.json": `{}`,
	} {
		if err := afero.WriteFile(fsys, filepath.Join(dir, stateDir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := PushedTargets(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sftp://a/x": "20261203T030000Z", "s3://b/y": "20261130T030000Z"}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %v", got, want)
	}
	for _, p := range got {
		if want[p.Target] != p.NewestStamp {
			t.Errorf("%s: newest %s, want %s", p.Target, p.NewestStamp, want[p.Target])
		}
	}
}
