package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/testutil"
)

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

// latest names the newest valid snapshot wherever a stamp is taken, and
// the JSON shows the stamp it resolved to.
func TestLatest(t *testing.T) {
	r := testutil.Root(t)
	cli(t, nil, "validate", "latest", "--root", r.Dir).want(t, 10) // no snapshot yet: not found
	meta := cli(t, nil, "create", "--root", r.Dir).want(t, 0).json(t)
	v := cli(t, nil, "validate", "latest", "--root", r.Dir).want(t, 0).json(t)
	if v["stamp"] != meta["stamp"] || v["valid"] != true {
		t.Fatalf("validate latest = %v, want stamp %v", v, meta["stamp"])
	}
	res := cli(t, nil, "restore", "latest", "--confirm-service-stopped", "--no-pre-snapshot", "--root", r.Dir).want(t, 0)
	if got := res.json(t)["stamp"]; got != meta["stamp"] || !strings.Contains(res.stderr, "latest is "+meta["stamp"].(string)) {
		t.Fatalf("restore latest restored %v (stderr %s), want %v", got, res.stderr, meta["stamp"])
	}
}

// On a terminal, create and validate draw a bar with the bytes done of
// the total, and erase it before the summary, which survives as the last
// line; in a pipe no bar is drawn.
func TestProgressBarOnATerminal(t *testing.T) {
	r := testutil.Root(t)
	for _, args := range [][]string{{"create", "--include-chroma"}, {"validate", "latest"}} {
		out := onTerminal(t, append(args, "--root", r.Dir)...)
		if !strings.Contains(out, "% |") || !strings.Contains(out, "MiB") && !strings.Contains(out, "KiB") {
			t.Fatalf("%s on a terminal drew no bar:\n%q", args[0], out)
		}
		// What the terminal shows last: the text after the last carriage
		// return of each line, blank lines dropped.
		var shown []string
		for _, l := range strings.Split(out, "\n") {
			if i := strings.LastIndex(l, "\r"); i >= 0 {
				l = l[i+1:]
			}
			if strings.TrimSpace(l) != "" {
				shown = append(shown, l)
			}
		}
		last := shown[len(shown)-1]
		if !strings.Contains(last, "created and validated") && !strings.Contains(last, "is valid") {
			t.Fatalf("%s: the summary is not the last line shown: %q", args[0], last)
		}
	}
	res := cli(t, nil, "validate", "latest", "--root", r.Dir).want(t, 0)
	if strings.Contains(res.stderr, "% |") {
		t.Fatalf("a bar in a pipe: %q", res.stderr)
	}
}
