package validate

import (
	"context"
	"strings"
	"testing"
)

// A panic in one check is an error naming what it checked; the other jobs
// still run and the process survives.
func TestRunJobsTurnsAPanicIntoAnError(t *testing.T) {
	v := &run{ctx: context.Background(), dir: "/backups/20260101T000000Z", res: &Result{}}
	ran := make(chan string, 4)
	var nilMap map[string]int
	jobs := []job{
		{size: 3, name: "chroma/x/header.bin", run: func() error { nilMap["x"] = 1; return nil }},
		{size: 2, name: "db/atocore.db", run: func() error { ran <- "db"; return nil }},
		{size: 1, name: "registry", run: func() error { ran <- "registry"; return nil }},
	}
	err := v.runJobs(jobs)
	if err == nil || !strings.Contains(err.Error(), "chroma/x/header.bin") || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("err = %v, want a panic naming chroma/x/header.bin", err)
	}
	if len(ran) != 2 {
		t.Fatalf("%d other jobs ran, want 2", len(ran))
	}
}
