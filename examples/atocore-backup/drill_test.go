package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/internal/testutil"
)

// A sabotaged restore fails the drill: exit 1 and a log line with pass
// false. It runs the CLI in this process, because only here can the
// drill's hook damage the snapshot between its marker and its restore;
// testdata/script/drill.txtar has the drill that passes.
func TestDrillFailsWhenRestoreIsSabotaged(t *testing.T) {
	r := testutil.Root(t)
	drillHook = func(stamp string) error {
		// Damage the snapshot the drill is about to restore: restore refuses it.
		testutil.Corrupt(t, filepath.Join(r.BackupDir, "snapshots", stamp, "db", "atocore.db"), 4096, 16)
		return nil
	}
	defer func() { drillHook = nil }()
	if code, _, stderr := runHere("drill", "--confirm-service-stopped", "--root", r.Dir); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	code, stdout, stderr := runHere("drills", "--root", r.Dir)
	if code != 0 {
		t.Fatalf("drills: exit %d\n%s", code, stderr)
	}
	var log struct {
		Drills []struct {
			Pass   bool   `json:"pass"`
			Detail string `json:"detail"`
		} `json:"drills"`
	}
	if err := json.Unmarshal([]byte(stdout), &log); err != nil {
		t.Fatalf("drills printed no JSON: %v\n%s", err, stdout)
	}
	if len(log.Drills) != 1 || log.Drills[0].Pass || !strings.Contains(log.Drills[0].Detail, "manifest_mismatch") {
		t.Fatalf("drill log = %+v", log.Drills)
	}
}

// runHere runs the CLI in this process with an empty environment.
func runHere(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return code, out.String(), errb.String()
}
