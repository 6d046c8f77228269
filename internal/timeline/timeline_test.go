package timeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestStepLogsStartAndDuration(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := time.Now().Add(-3 * time.Second)
	tl := NewAt(log, start)
	tl.Step("integrity_check", start.Add(time.Second), "ok", true)
	out := buf.String()
	for _, want := range []string{`msg=integrity_check`, `at=1s`, `duration=2s`, `ok=true`} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %q lacks %q", out, want)
		}
	}
}

func TestZeroTimelineLogsNothing(t *testing.T) {
	var tl Timeline
	tl.Step("anything", time.Now()) // must not panic
	New(nil).Step("anything", time.Now())
}
