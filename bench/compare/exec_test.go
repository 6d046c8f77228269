package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunnerReportsFailureWithStderrTail(t *testing.T) {
	r := &runner{logDir: t.TempDir(), timeout: time.Minute}
	o := r.run(context.Background(), "fail", sh(`echo '{"ok":1}'; echo first >&2; echo last words >&2; exit 3`))
	if o.err == nil {
		t.Fatal("a command that exits 3 reported no error")
	}
	for _, want := range []string{"exit status 3", "first | last words", "fail.err"} {
		if !strings.Contains(o.err.Error(), want) {
			t.Errorf("error %q lacks %q", o.err, want)
		}
	}
	if string(o.stdout) != "{\"ok\":1}\n" {
		t.Errorf("stdout %q", o.stdout)
	}
	if o.maxRSSKiB <= 0 || o.wall <= 0 {
		t.Errorf("no rusage: rss %d KiB, wall %s", o.maxRSSKiB, o.wall)
	}
}

func TestRunnerTimeoutKillsThePipeline(t *testing.T) {
	r := &runner{logDir: t.TempDir(), timeout: 200 * time.Millisecond}
	start := time.Now()
	o := r.run(context.Background(), "slow", sh(`sleep 30 | cat`))
	if o.err == nil || !strings.Contains(o.err.Error(), "timed out after 200ms") {
		t.Errorf("error %v; want a timeout", o.err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the timeout took %s to stop the pipeline", time.Since(start))
	}
}

func TestTailLines(t *testing.T) {
	if got := tailLines([]byte("a\n\nb\nc\nd\n"), 3); got != "b | c | d" {
		t.Errorf("tailLines = %q", got)
	}
	if got := tailLines(nil, 3); got != "(empty)" {
		t.Errorf("tailLines(nil) = %q", got)
	}
}
