package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// A typo'd target is "not found" (exit 10) for every off-site command, and
// nothing is created: not the target, not its parent, not the local backup
// directory of a pull.
func TestTypoTargetExitsTenAndCreatesNothing(t *testing.T) {
	r := testutil.Root(t)
	meta := cli(t, nil, "create", "--root", r.Dir).want(t, 0).json(t)
	stamp := meta["stamp"].(string)
	base := t.TempDir()
	typo := filepath.Join(base, "ofsite", "atocore")
	fresh := filepath.Join(t.TempDir(), "fresh")
	for _, args := range [][]string{
		{"remote", "list"},
		{"remote", "validate", stamp},
		{"remote", "prune", "--dry-run"},
		{"pull", stamp, "--root", fresh},
		{"push", "--root", r.Dir},
	} {
		t.Run(strings.Join(args[:min(2, len(args))], " "), func(t *testing.T) {
			if args[0] != "remote" || args[1] != "prune" { // prune reads no statement
				args = append(args, "--allow-unsigned")
			}
			res := cli(t, nil, append(args, "--target", "file://"+typo)...).want(t, 10)
			if !strings.Contains(res.stderr, "ofsite") || !strings.Contains(res.stderr, "--target") {
				t.Errorf("stderr names neither the missing target nor --target: %s", res.stderr)
			}
			for _, p := range []string{filepath.Join(base, "ofsite"), fresh} {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Fatalf("%s created %s", args[0], p)
				}
			}
		})
	}
	// A read-only command on a missing directory under an existing parent
	// creates nothing either; push makes it.
	missing := filepath.Join(base, "atocore")
	cli(t, nil, "--allow-unsigned", "remote", "list", "--target", "file://"+missing).want(t, 10)
	if _, err := os.Lstat(missing); !os.IsNotExist(err) {
		t.Fatal("remote list created the target")
	}
	cli(t, nil, "--allow-unsigned", "push", "--target", "file://"+missing, "--root", r.Dir).want(t, 0)
	cli(t, nil, "--allow-unsigned", "remote", "list", "--target", "file://"+missing).want(t, 0)
	// A stamp the target does not hold is not found either (exit 10), not
	// a failed validation.
	const absent = "20200101T000000Z"
	for _, args := range [][]string{{"remote", "validate", absent}, {"pull", absent, "--root", fresh}} {
		res := cli(t, nil, append(args, "--allow-unsigned", "--target", "file://"+missing)...).want(t, 10)
		if !strings.Contains(res.stderr, absent) {
			t.Errorf("%s of a stamp the target lacks: stderr does not name it: %s", args[0], res.stderr)
		}
	}
}

// A wrong identity or passphrase is exit 12 with a message that says so,
// never a validation code: monitoring tells an operator's mistake from
// corruption.
func TestWrongKeyExitsTwelve(t *testing.T) {
	r := testutil.Root(t)
	meta := cli(t, nil, "create", "--root", r.Dir).want(t, 0).json(t)
	stamp := meta["stamp"].(string)
	dir := t.TempDir()
	writeFile := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	otherID, _, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	wrongID := writeFile("wrong-identity.txt", otherID+"\n")
	pass := writeFile("pass", "correct horse\n")
	wrongPass := writeFile("wrong-pass", "battery staple\n")

	recipients := "file://" + filepath.Join(dir, "recipients")
	passphrase := "file://" + filepath.Join(dir, "passphrase")
	for _, tg := range []string{recipients, passphrase} {
		if err := os.Mkdir(strings.TrimPrefix(tg, "file://"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cli(t, nil, "--allow-unsigned", "push", "--target", recipients, "--recipient", rcpt, "--root", r.Dir).want(t, 0)
	cli(t, nil, "--allow-unsigned", "push", "--target", passphrase, "--passphrase-file", pass, "--root", r.Dir).want(t, 0)

	for _, tc := range []struct {
		name, target, flag, file, says string
	}{
		{"identity", recipients, "--age-identity", wrongID, "wrong identity"},
		{"passphrase", passphrase, "--passphrase-file", wrongPass, "wrong passphrase"},
	} {
		for _, args := range [][]string{
			{"remote", "validate", stamp},
			{"pull", stamp, "--root", t.TempDir()},
		} {
			t.Run(tc.name+" "+args[0], func(t *testing.T) {
				res := cli(t, nil, append(args, "--allow-unsigned", "--target", tc.target, tc.flag, tc.file)...).want(t, 12)
				if !strings.Contains(res.stderr, tc.says) || !strings.Contains(res.stderr, tc.flag) || strings.Contains(res.stderr+res.stdout, "manifest_mismatch") {
					t.Fatalf("stderr %q, stdout %q: want %q and a hint about %s, and no manifest_mismatch", res.stderr, res.stdout, tc.says, tc.flag)
				}
			})
		}
	}
}

// A symbolic link planted on a file:// target, to a file of the restoring
// machine, never reaches the pulled snapshot (and from there the live
// state and the next push).
func TestPlantedLinkOnFileTargetIsRefused(t *testing.T) {
	r := testutil.Root(t)
	meta := cli(t, nil, "create", "--include-chroma", "--root", r.Dir).want(t, 0).json(t)
	stamp := meta["stamp"].(string)
	tgt := filepath.Join(t.TempDir(), "offsite")
	cli(t, nil, "--allow-unsigned", "push", "--target", "file://"+tgt, "--root", r.Dir).want(t, 0)
	snap := filepath.Join(tgt, "snapshots", stamp)
	// The link points at a copy of the very bytes pushed, outside the
	// target: only the link itself can be what is refused.
	outside := filepath.Join(t.TempDir(), "chroma")
	if err := os.Rename(filepath.Join(snap, "chroma"), outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(snap, "chroma")); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	res := cli(t, nil, "--allow-unsigned", "pull", stamp, "--target", "file://"+tgt, "--root", fresh).want(t, 1)
	if !strings.Contains(res.stderr, "symbolic link") {
		t.Fatalf("pull through a planted directory link: %s", res.stderr)
	}
	cli(t, nil, "--allow-unsigned", "remote", "validate", stamp, "--target", "file://"+tgt).want(t, 1)
	if entries, _ := os.ReadDir(filepath.Join(fresh, "backups", "snapshots")); len(entries) != 0 {
		t.Fatal("a refused pull left a snapshot")
	}
}
