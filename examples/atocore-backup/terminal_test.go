package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/testutil"
)

var stampRE = regexp.MustCompile(`^\d{8}T\d{6}Z$`)

// onTerminal runs the CLI with stdin, stdout and stderr on a real
// pseudo-terminal (util-linux's script), and returns what the terminal
// showed, carriage returns removed.
func onTerminal(t *testing.T, args ...string) string {
	t.Helper()
	script := testutil.Tool(t, "script")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	line := binary(t)
	for _, a := range args {
		line += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	cmd := exec.CommandContext(ctx, script, "-qec", line, "/dev/null")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TERM=xterm"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out.String())
	}
	return strings.ReplaceAll(out.String(), "\r", "")
}

// On a terminal the result is a human summary (a table for list and
// drills), not JSON; --json gives the JSON there too; in a pipe it is
// JSON (every other test of this package reads it so).
func TestHumanOutputOnATerminal(t *testing.T) {
	r := testutil.Root(t)
	out := onTerminal(t, "create", "--root", r.Dir)
	if strings.Contains(out, `"stamp"`) || !strings.Contains(out, "created and validated") {
		t.Fatalf("create on a terminal printed:\n%s", out)
	}
	list := onTerminal(t, "list", "--root", r.Dir)
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "STAMP") || !strings.Contains(lines[0], "VALIDATED") ||
		!stampRE.MatchString(strings.Fields(lines[1])[0]) || !strings.HasPrefix(lines[2], "1 snapshot(s)") {
		t.Fatalf("list on a terminal printed:\n%s", list)
	}
	if v := onTerminal(t, "validate", "latest", "--root", r.Dir); !strings.Contains(v, "is valid") || strings.Contains(v, "{") {
		t.Fatalf("validate latest on a terminal printed:\n%s", v)
	}
	if j := onTerminal(t, "list", "--json", "--root", r.Dir); !strings.Contains(j, `"backup_dir"`) {
		t.Fatalf("list --json on a terminal printed:\n%s", j)
	}
	if p := onTerminal(t, "prune", "--dry-run", "--root", r.Dir); !strings.Contains(p, "keep") || !strings.Contains(p, "dry run") {
		t.Fatalf("prune --dry-run on a terminal printed:\n%s", p)
	}
}
