package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/internal/testutil"
)

// A mistyped path is "not found" (exit 10) for every command but the
// disaster-recovery ones, names the path and where it came from, and
// creates nothing: a cron job with a wrong root must not report success
// every night.
func TestMistypedPathsAreNotFound(t *testing.T) {
	r := testutil.Root(t)
	cli(t, nil, "create", "--root", r.Dir).want(t, 0)
	typo := filepath.Join(t.TempDir(), "atocroe")
	cases := []struct {
		name    string
		env     []string
		args    []string
		mention []string
	}{
		{"list --root", nil, []string{"list", "--root", typo}, []string{typo, "--root"}},
		{"list ATOCORE_ROOT", []string{"ATOCORE_ROOT=" + typo}, []string{"list"}, []string{typo, "ATOCORE_ROOT"}},
		{"prune", nil, []string{"prune", "--root", typo}, []string{typo, "--root"}},
		{"prune --dry-run", nil, []string{"prune", "--dry-run", "--root", typo}, []string{typo}},
		{"validate", nil, []string{"validate", "20260407T060000Z", "--root", typo}, []string{typo}},
		{"drills", nil, []string{"drills", "--root", typo}, []string{typo}},
		{"push", nil, []string{"push", "--target", "file://" + t.TempDir(), "--root", typo}, []string{typo}},
		{"create", nil, []string{"create", "--root", typo}, []string{typo, "--root"}},
		{"create --include-chroma", nil, []string{"create", "--include-chroma", "--root", typo}, []string{typo}},
		{"drill", nil, []string{"drill", "--confirm-service-stopped", "--root", typo}, []string{typo}},
		{"list --backup-dir", nil, []string{"list", "--root", r.Dir, "--backup-dir", typo}, []string{typo, "--backup-dir"}},
		{"create --db-path", nil, []string{"create", "--root", r.Dir, "--db-path", typo + ".db"}, []string{typo + ".db", "--db-path"}},
		{"restore unknown stamp", nil, []string{"restore", "20200101T000000Z", "--confirm-service-stopped", "--root", r.Dir}, []string{"20200101T000000Z"}},
		{"restore --backup-dir", nil, []string{"restore", "20200101T000000Z", "--confirm-service-stopped", "--root", r.Dir, "--backup-dir", typo}, []string{typo}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := testutil.Fingerprint(t, r.DBPath)
			res := cli(t, c.env, c.args...)
			if res.code != 10 {
				t.Fatalf("exit %d, want 10\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
			}
			line := strings.TrimSpace(res.stderr)
			if i := strings.LastIndex(line, "\n"); i >= 0 {
				line = line[i+1:] // progress lines may come first; the error is the last line
			}
			for _, m := range c.mention {
				if !strings.Contains(line, m) {
					t.Fatalf("error %q does not name %q", line, m)
				}
			}
			if _, err := os.Lstat(typo); err == nil {
				t.Fatalf("%s was created", typo)
			}
			if _, err := os.Lstat(typo + ".db"); err == nil {
				t.Fatalf("%s.db was created", typo)
			}
			if testutil.Fingerprint(t, r.DBPath) != before {
				t.Fatal("the live database changed")
			}
		})
	}
}

// A live database that does not exist makes create fail with exit 10
// without creating the backup directory.
func TestCreateWithoutDatabaseCreatesNothing(t *testing.T) {
	root := t.TempDir()
	res := cli(t, nil, "create", "--root", root)
	if res.code != 10 || !strings.Contains(res.stderr, filepath.Join(root, "data", "db", "atocore.db")) {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("create without a database left %v in the root", entries)
	}
}

// Read-only commands create nothing: no lock file, no directory.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	r := testutil.Root(t)
	m := cli(t, nil, "create", "--root", r.Dir).want(t, 0).json(t)
	if err := os.Remove(filepath.Join(r.BackupDir, ".lock")); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, r.BackupDir)
	cli(t, nil, "list", "--root", r.Dir).want(t, 0)
	cli(t, nil, "validate", m["stamp"].(string), "--root", r.Dir).want(t, 0)
	cli(t, nil, "drills", "--root", r.Dir).want(t, 0)
	if after := listTree(t, r.BackupDir); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("read-only commands changed the backup directory:\nbefore %v\nafter  %v", before, after)
	}
}

func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	return out
}
