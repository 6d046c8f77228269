package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// row finds the table row of one operation and tool in md, split in cells,
// in the random shape's table.
func row(t *testing.T, md, size string, o op, tool string) []string {
	t.Helper()
	return shapeRow(t, md, "random", size, o, tool)
}

// shapeRow is row for a shape's table.
func shapeRow(t *testing.T, md, shape, size string, o op, tool string) []string {
	t.Helper()
	_, section, ok := strings.Cut(md, "## "+size+" database + "+size+" Chroma, shape "+shape+"\n")
	if !ok {
		t.Fatalf("no section for %s", size)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	prefix := "| " + o.title() + " | " + tool + " |"
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, prefix) {
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells
		}
	}
	t.Fatalf("no row %q in the %s table", prefix, size)
	return nil
}

func TestRenderMarkdown(t *testing.T) {
	md := renderMarkdown(fixtureResults())
	for _, want := range []string{
		"## 256 MiB database + 256 MiB Chroma, shape random", "## 1 GiB database", "## 4 GiB database",
		"## 4 GiB database + 4 GiB Chroma, shape text", "this machine has 200",
		tableHeader, "## Failures", "## Notes", "restic 0.14.0", "borg missing", "Test CPU",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q", want)
		}
	}

	// Columns: operation, tool, median wall, ours÷tool, tool÷ours, RSS,
	// CPU s, CPU %, server CPU, written, disk writes, sent, runs.
	ours := row(t, md, "1 GiB", opFull, toolOurs)
	if ours[2] != "2.30" || ours[3] != "1" || ours[4] != "1" {
		t.Errorf("ours' full backup at 1 GiB: %q; want median 2.30 and ratios 1", ours)
	}
	restic := row(t, md, "1 GiB", opFull, "restic")
	// restic is the 4th tool: 4 × 2 × 1.15 = 9.2 s; ours 2.3 s.
	if restic[2] != "9.20" || restic[3] != "0.25" || restic[4] != "4.00" {
		t.Errorf("restic's full backup at 1 GiB: %q; want 9.20 s, ours÷tool 0.25, tool÷ours 4.00", restic)
	}
	// CPU %: 1.5 s of CPU in 8.8 s and in 9.6 s, 17% and 16%: median 16.
	if restic[5] != "4.0" || restic[6] != "1.50" || restic[7] != "16" || restic[8] != "—" || restic[9] != "1024.0" || restic[11] != "—" {
		t.Errorf("restic's full backup at 1 GiB: %q; want RSS 4.0, CPU 1.50 s and 16%%, no server CPU, 1024.0 written, nothing sent", restic)
	}
	if restic[12] != "8.80, 9.60" {
		t.Errorf("restic's runs at 1 GiB: %q; want 8.80, 9.60", restic[12])
	}
	// The text shape has its own table: twice the wall time, half the CPU %.
	text := shapeRow(t, md, "text", "1 GiB", opFull, "restic")
	if text[2] != "18.40" || text[3] != "0.25" || text[7] != "8" || text[12] != "17.60, 19.20" {
		t.Errorf("restic's full backup at 1 GiB, text shape: %q; want 18.40 s, ours÷tool 0.25, 8%% CPU", text)
	}
	if ours := shapeRow(t, md, "random", "256 MiB", opFull, toolOurs); ours[7] != "131" {
		t.Errorf("ours' full backup at 256 MiB: CPU %% %q; want 131 (1.5 s in 1.1 s and in 1.2 s: 136 and 125)", ours[7])
	}
	push := row(t, md, "1 GiB", opPushIncr, "rsync")
	if push[8] != "0.25" || push[11] != "1024.0" {
		t.Errorf("rsync's push incremental at 1 GiB: %q; want server CPU 0.25 and 1024.0 MiB sent", push)
	}
	failed := row(t, md, "4 GiB", opCheck, "borg")
	if failed[2] != "failed" || failed[12] != "failed, failed" {
		t.Errorf("borg's check at 4 GiB: %q; want failed", failed)
	}
	if !strings.Contains(md, `broken \| pipe`) {
		t.Error("a failure's | is not escaped in the failures list")
	}
	small, _, _ := strings.Cut(md, "## 1 GiB")
	if !strings.Contains(md, "- random 4 GiB, run 1, borg, check: ") || !strings.Contains(md, "- text 4 GiB, run 1, borg, check: ") {
		t.Error("the failures list does not name each failure's shape")
	}
	if strings.Contains(small, "| push full | rsync |") {
		t.Error("the 256 MiB table has a row for rsync, which has no measurement there")
	}
}

func TestSizeLabel(t *testing.T) {
	for in, want := range map[int]string{4: "4 MiB", 256: "256 MiB", 1024: "1 GiB", 1536: "1536 MiB", 4096: "4 GiB"} {
		if got := sizeLabel(in); got != want {
			t.Errorf("sizeLabel(%d) = %q; want %q", in, got, want)
		}
	}
}

func TestShortVersion(t *testing.T) {
	cases := map[[2]string]string{
		{"restic", "restic 0.14.0 compiled with go1.19.8 on linux/amd64"}:      "restic 0.14.0",
		{"ssh", "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026"}: "ssh 9.2p1",
		{"sqlite3", "3.40.1 2022-12-28 14:03:47 df5c"}:                         "sqlite3 3.40.1",
		{"age", "unknown"}: "age",
	}
	for in, want := range cases {
		if got := shortVersion(in[0], in[1]); got != want {
			t.Errorf("shortVersion(%q, %q) = %q; want %q", in[0], in[1], got, want)
		}
	}
}

// TestReadFormat1 reads a results.json written before the shapes: its
// roots and measurements are the random shape's, and CPU % follows from
// the times.
func TestReadFormat1(t *testing.T) {
	dir := t.TempDir()
	old := `{"format": 1, "config": {"sizes_mib": [16], "segments": 20, "runs": [1], "tools": ["ours"], "ops": ["full"]},
		"roots": [{"size_mib": 16, "segments": 20, "db_bytes": 1}],
		"measurements": [{"size_mib": 16, "run": 1, "tool": "ours", "op": "full", "wall_s": 2, "user_s": 1, "sys_s": 2}]}`
	if err := os.WriteFile(filepath.Join(dir, "results.json"), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := readResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Config.Shapes) != 1 || res.Config.Shapes[0] != "random" || res.Roots[0].Shape != "random" {
		t.Errorf("shapes %v, root shape %q; want random", res.Config.Shapes, res.Roots[0].Shape)
	}
	if m := res.Measurements[0]; m.Shape != "random" || m.CPUPercent != 150 {
		t.Errorf("measurement shape %q, CPU %% %v; want random, 150", m.Shape, m.CPUPercent)
	}
	if md := renderMarkdown(res); !strings.Contains(md, "| full backup | ours | 2.00 | 1 | 1 | 0.0 | 3.00 | 150 |") {
		t.Errorf("results.md of a format 1 file lacks ours' row:\n%s", md)
	}
}
