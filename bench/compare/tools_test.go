package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakePath makes a PATH that holds only the named executables (empty
// scripts).
func fakePath(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckToolsSkipsMissingPeers(t *testing.T) {
	t.Setenv("PATH", fakePath(t, "go", "ssh", "restic"))
	a, err := checkTools([]string{toolOurs, "sqlite3+cp", "rsync", "restic", "borg"}, allOps, true)
	if err != nil {
		if strings.Contains(err.Error(), "sshd") {
			t.Skip("no sshd on this machine: ", err)
		}
		t.Fatal(err)
	}
	if !slices.Equal(a.tools, []string{toolOurs, "restic"}) {
		t.Errorf("tools that can run: %v; want [ours restic]", a.tools)
	}
	for tool, pkg := range map[string]string{"sqlite3+cp": "apt-get install sqlite3", "rsync": "apt-get install rsync", "borg": "apt-get install borgbackup"} {
		if !strings.Contains(a.skipped[tool], pkg) {
			t.Errorf("skipped %s: %q; want the package to install (%s)", tool, a.skipped[tool], pkg)
		}
	}
	report := strings.Join(a.describe(), "\n")
	for _, want := range []string{"found: ", "restic", "missing: borg is missing (Debian/Ubuntu: apt-get install borgbackup)", "skipped tool rsync"} {
		if !strings.Contains(report, want) {
			t.Errorf("start-up report lacks %q:\n%s", want, report)
		}
	}
}

func TestCheckToolsNeedsGo(t *testing.T) {
	t.Setenv("PATH", fakePath(t, "restic"))
	_, err := checkTools([]string{toolOurs}, []op{opFull}, false)
	if err == nil || !strings.Contains(err.Error(), "go is missing") {
		t.Errorf("checkTools without go: %v; want an error naming go", err)
	}
}

func TestCheckToolsLocalOpsNeedNoSSH(t *testing.T) {
	t.Setenv("PATH", fakePath(t, "go", "borg"))
	a, err := checkTools([]string{toolOurs, "rsync", "borg"}, localOps, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.tools, []string{toolOurs, "borg"}) {
		t.Errorf("tools: %v; want [ours borg] (borg's local operations need no ssh)", a.tools)
	}
	if !strings.Contains(a.skipped["rsync"], "none of the chosen operations") {
		t.Errorf("rsync with local operations only: %q", a.skipped["rsync"])
	}
}
