package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]string{"-sizes", "1024,256,256", "-tools", "restic,rsync", "-ops", "check,full", "-repo", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.sizes, []int{256, 1024}) {
		t.Errorf("sizes %v; want [256 1024]", c.sizes)
	}
	if !slices.Equal(c.tools, []string{toolOurs, "rsync", "restic"}) {
		t.Errorf("tools %v; want ours first, then the table order", c.tools)
	}
	if !slices.Equal(c.ops, []op{opFull, opCheck}) {
		t.Errorf("ops %v; want the report order", c.ops)
	}
}

func TestParseConfigErrorsNameTheFix(t *testing.T) {
	cases := map[string][]string{
		"-sizes":     {"-sizes", "1024,big"},
		"-tools":     {"-tools", "tar"},
		"-ops":       {"-ops", "backup"},
		"-runs":      {"-runs", "0"},
		"-work":      {"-work", "/tmp/with space"},
		"unexpected": {"extra"},
	}
	for want, args := range cases {
		_, err := parseConfig(append(args, "-repo", t.TempDir()), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConfig(%q) = %v; want an error naming %s", args, err, want)
		}
	}
}

func TestDiskNeed(t *testing.T) {
	all := []string{toolOurs, "sqlite3+cp", "rsync", "restic", "borg"}
	both := phases{local: true, push: true}
	// Push phase: 1 + 1.5 + 1 + 1 + 1 + 1 + 0.5 = 7 units of 2 GiB, + 10%:
	// 7 × 2048 × 1.1 = 15769.6, truncated, + 64.
	if got, want := diskNeedMiB(1024, all, both), int64(15769+64); got != want {
		t.Errorf("diskNeedMiB(1024, all) = %d; want %d", got, want)
	}
	if diskNeedMiB(1024, []string{toolOurs}, phases{local: true}) >= diskNeedMiB(1024, all, both) {
		t.Error("ours alone, locally, needs no less than everything")
	}
}

func TestParseRuns(t *testing.T) {
	for _, tc := range []struct {
		in    string
		sizes int
		want  []int
		bad   bool
	}{
		{"3", 3, []int{3, 3, 3}, false},
		{"3,3,1", 3, []int{3, 3, 1}, false},
		{"3,1", 3, nil, true},
		{"0", 1, nil, true},
		{"x", 1, nil, true},
	} {
		got, err := parseRuns(tc.in, tc.sizes)
		if (err != nil) != tc.bad || fmt.Sprint(got) != fmt.Sprint(tc.want) && !tc.bad {
			t.Errorf("parseRuns(%q, %d) = %v, %v", tc.in, tc.sizes, got, err)
		}
	}
}

func TestParseShapes(t *testing.T) {
	for in, want := range map[string]string{"random": "random", "text,many": "text,many", "many, random,many": "many,random"} {
		got, err := parseShapes(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("parseShapes(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "chunks", "random,", "Text"} {
		if _, err := parseShapes(in); err == nil || !strings.Contains(err.Error(), "-shapes") {
			t.Errorf("parseShapes(%q): %v; want an error naming -shapes", in, err)
		}
	}
}
