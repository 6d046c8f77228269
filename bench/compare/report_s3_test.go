package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// s3Fixture is three runs of the S3 operations at 256 MiB: ours' full
// push takes 10, 11, 12 s against restic's 10 s and rclone's 8 s; its
// incremental sends 300 MiB for 256 MiB changed with 40 requests against
// the full push's 1,000; ours' RSS peaks at 160 MiB in run 2.
func s3Fixture() *results {
	res := &results{
		Format: resultsFormat, Command: []string{"go run ./bench/compare"},
		Config:  resultsConfig{SizesMiB: []int{256}, Shapes: []string{"random"}, Runs: []int{3}, Tools: []string{toolOurs, "restic", "rclone"}, Ops: s3Ops},
		Machine: machine{Cores: 2},
	}
	changed := &changeInfo{ChangedFiles: 4, ChangedBytes: 256 << 20, UnchangedFiles: 101, UnchangedBytes: 244 << 20}
	for run := 1; run <= 3; run++ {
		add := func(tool string, o op, wall float64, sent int64, reqs requestCounts, rssMiB int64) {
			m := measurement{Shape: "random", SizeMiB: 256, Run: run, Tool: tool, Op: o, WallSeconds: wall,
				UserSeconds: wall / 2, SentBytes: sent, MaxRSSKiB: rssMiB << 10, Requests: &reqs}
			if o == opPushS3Incr {
				m.Changed = changed
			}
			res.Measurements = append(res.Measurements, m)
		}
		rss := int64(120)
		if run == 2 {
			rss = 160
		}
		add(toolOurs, opPushS3Full, 9+float64(run), 512<<20, requestCounts{Total: 1000, Put: 600, Copy: 100, Head: 300}, rss)
		add("restic", opPushS3Full, 10, 370<<20, requestCounts{Total: 37, Put: 26}, 200)
		add("rclone", opPushS3Full, 8, 512<<20, requestCounts{Total: 265, Put: 156}, 130)
		add(toolOurs, opPushS3Incr, 3, 300<<20, requestCounts{Total: 40, Put: 10, Copy: 101}, 100)
		add("restic", opPushS3Incr, 2, 5<<20, requestCounts{Total: 16}, 60)
		add("rclone", opPushS3Incr, 8, 512<<20, requestCounts{Total: 265}, 70)
	}
	return res
}

func TestS3Goals(t *testing.T) {
	md := renderMarkdown(s3Fixture())
	for _, want := range []string{
		"### Off-site push to S3, 256 MiB",
		// Run by run: 10/10, 11/10, 12/10.
		"- ours ÷ restic, full push (wall): 1.1 (runs: 1, 1.1, 1.2), goal ≤ 1.00: **missed**",
		"- ours ÷ rclone, full push (wall): 1.38 (runs: 1.25, 1.38, 1.5), goal ≤ 1.25: **missed**",
		"- ours' incremental bytes sent ÷ changed files' bytes: 1.17 (runs: 1.17, 1.17, 1.17), goal ≤ 1.05: **missed** — run 3: 300.0 MiB sent for 4 changed file(s) of 256.0 MiB; 101 unchanged file(s) of 244.0 MiB, 101 COPY request(s)",
		"- ours' incremental requests ÷ full push requests: 0.04 (runs: 0.04, 0.04, 0.04), goal < 5%: met",
		"- ours' peak RSS, MiB (largest of both pushes): 160 (runs: 120, 160, 120), goal < 150: **missed**",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	// The S3 operations are not in the main table.
	if strings.Contains(md, tableHeader) {
		t.Error("results.md has the main table for S3 operations only")
	}
	// Columns: operation, tool, wall, ours÷tool, RSS, CPU %, server CPU,
	// sent, received, requests, PUT, COPY, POST, GET, HEAD, DELETE, runs.
	var rclone []string
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| S3 push full | rclone |") {
			rclone = strings.Split(strings.Trim(line, "|"), "|")
		}
	}
	if len(rclone) != 17 {
		t.Fatalf("no S3 row of 17 cells for rclone's full push in:\n%s", md)
	}
	for i, want := range map[int]string{2: "8.00", 3: "1.38", 7: "512.0", 9: "265", 10: "156", 16: "8.00, 8.00, 8.00"} {
		if got := strings.TrimSpace(rclone[i]); got != want {
			t.Errorf("rclone's full push, column %d = %q; want %q", i, got, want)
		}
	}
}

func TestS3GoalsWithoutMeasurements(t *testing.T) {
	res := s3Fixture()
	var kept []measurement
	for _, m := range res.Measurements {
		if m.Tool != "restic" {
			kept = append(kept, m)
		}
	}
	res.Measurements = kept
	md := renderMarkdown(res)
	if !strings.Contains(md, "- ours ÷ restic, full push (wall): no measurement (goal ≤ 1.00)") {
		t.Errorf("without restic, the goal line does not say so:\n%s", md)
	}
}

func TestDiffSnapshots(t *testing.T) {
	dir := t.TempDir()
	old, cur := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(old, "db", "atocore.db"), "database v1")
	write(filepath.Join(cur, "db", "atocore.db"), "database v2") // same size, new bytes
	write(filepath.Join(old, "chroma", "same.bin"), "unchanged copy")
	write(filepath.Join(cur, "chroma", "same.bin"), "unchanged copy")
	write(filepath.Join(old, "chroma", "linked.bin"), "linked")
	if err := os.Link(filepath.Join(old, "chroma", "linked.bin"), filepath.Join(cur, "chroma", "linked.bin")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(cur, "chroma", "new.bin"), "a new segment")
	write(filepath.Join(old, "chroma", "gone.bin"), "removed")
	c, err := diffSnapshots(old, cur)
	if err != nil {
		t.Fatal(err)
	}
	// A "database" shorter than a header counts whole.
	want := changeInfo{ChangedFiles: 2, ChangedBytes: 11 + 13, UnchangedFiles: 2, UnchangedBytes: 14 + 6, DBPageBytes: 11, DBBytes: 11}
	if *c != want {
		t.Errorf("diffSnapshots = %+v; want %+v", *c, want)
	}
}

func TestChangedPages(t *testing.T) {
	dir := t.TempDir()
	page := func(b byte) []byte { return bytes.Repeat([]byte{b}, 512) }
	db := func(pages ...[]byte) []byte {
		out := bytes.Join(pages, nil)
		copy(out, "SQLite format 3\x00")
		out[16], out[17] = 0x02, 0x00 // page size 512
		return out
	}
	old, cur := filepath.Join(dir, "old.db"), filepath.Join(dir, "new.db")
	if err := os.WriteFile(old, db(page(1), page(2), page(3)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Page 2 changed, page 4 added.
	if err := os.WriteFile(cur, db(page(1), page(9), page(3), page(4)), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := changedPages(old, cur)
	if err != nil || n != 2*512 {
		t.Fatalf("changedPages = %d, %v; want %d", n, err, 2*512)
	}
}

func TestBucketName(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"s256-r1", "ours"}:         "bench-s256-r1-ours",
		{"text-s1024-r3", "rclone"}: "bench-text-s1024-r3-rclone",
		{"S16_r1", "sqlite3+cp"}:    "bench-s16-r1-sqlite3-cp",
	} {
		if got := bucketName(in[0], in[1]); got != want {
			t.Errorf("bucketName(%q, %q) = %q; want %q", in[0], in[1], got, want)
		}
	}
}
