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
	out, code := onTerminalExit(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s", args, code, out)
	}
	return out
}

// onTerminalExit is onTerminal for a command that may fail: what the
// terminal showed, and the exit code.
func onTerminalExit(t *testing.T, args ...string) (string, int) {
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
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		code = ee.ExitCode()
	}
	return strings.ReplaceAll(out.String(), "\r", ""), code
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

// A push to several targets on a terminal: a table with a row per target
// (name, URL, result, bytes sent, snapshots pushed and already there, the
// error), a last line that names the failed one, and its error on stderr.
func TestPushSeveralOnATerminal(t *testing.T) {
	r := testutil.Root(t)
	cli(t, nil, "create", "--root", r.Dir).want(t, 0)
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/good", 0o700); err != nil {
		t.Fatal(err)
	}
	conf := dir + "/config.toml"
	text := "root = \"" + r.Dir + "\"\n[[target]]\nname = \"good\"\nurl = \"file://" + dir + "/good\"\n" +
		"[[target]]\nname = \"bad\"\nurl = \"file://" + dir + "/nowhere/atocore\"\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := onTerminalExit(t, "push", "--config", conf, "--allow-unsigned")
	if code != 10 {
		t.Fatalf("exit %d, want 10 (the only failure is a missing target):\n%s", code, out)
	}
	var header, good, bad, last, stderr string
	for _, l := range strings.Split(out, "\n") {
		switch f := strings.Fields(l); {
		case len(f) == 0:
		case f[0] == "TARGET":
			header = l
		case f[0] == "good":
			good = l
		case f[0] == "bad":
			bad = l
		case strings.HasPrefix(l, "pushed to "):
			last = l
		case strings.Contains(l, "atocore-backup push: target bad"): // after the erased bar
			stderr = l
		}
	}
	for _, c := range []struct{ what, line, want string }{
		{"header", header, "RESULT"},
		{"good row", good, "file://" + dir + "/good"},
		{"good row", good, " ok "},
		{"good row", good, "MiB"},
		{"bad row", bad, "FAILED"},
		{"bad row", bad, "does not exist"},
		{"last line", last, "pushed to 1 of 2 targets; failed: bad (file://" + dir + "/nowhere/atocore)"},
		{"stderr", stderr, "nowhere"},
	} {
		if !strings.Contains(c.line, c.want) {
			t.Errorf("%s %q lacks %q; the terminal showed:\n%s", c.what, c.line, c.want, out)
		}
	}
	if strings.Count(out, "WARNING: pushing UNSIGNED") != 1 {
		t.Errorf("the unsigned warning is not said once:\n%s", out)
	}
	if strings.Contains(out, `"targets"`) {
		t.Errorf("JSON on a terminal:\n%s", out)
	}
}
