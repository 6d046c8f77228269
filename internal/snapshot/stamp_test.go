package snapshot

import (
	"errors"
	"testing"
	"time"
)

func TestParseStamp(t *testing.T) {
	good := map[string]time.Time{
		"20260407T060000Z": time.Date(2026, 4, 7, 6, 0, 0, 0, time.UTC),
		"20280229T235959Z": time.Date(2028, 2, 29, 23, 59, 59, 0, time.UTC),
	}
	for s, want := range good {
		got, err := ParseStamp(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseStamp(%q) = %v, %v; want %v", s, got, err, want)
		}
		if FormatStamp(got) != s {
			t.Errorf("FormatStamp round trip of %q = %q", s, FormatStamp(got))
		}
	}
	bad := []string{
		"", "../x", "20260407T060000Z/..", "20260407T060000Z/", "/20260407T060000", "20260407T060000",
		"20260407T060000ZZ", "20260407t060000Z", "20260407T060000z", "20260407 060000Z", "2026040T0600000Z",
		"20260230T060000Z", "20261301T060000Z", "20260407T250000Z", "20260407T066000Z", "2026-04-07T06:00Z",
		"２0260407T060000Z", "20260407T06000\x00Z", "-0260407T060000Z", "20270229T060000Z",
	}
	for _, s := range bad {
		if _, err := ParseStamp(s); !errors.Is(err, ErrBadStamp) {
			t.Errorf("ParseStamp(%q) err = %v; want ErrBadStamp", s, err)
		}
		if IsStamp(s) {
			t.Errorf("IsStamp(%q) = true", s)
		}
	}
}

func TestFormatStampIsUTC(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	at := time.Date(2026, 4, 7, 8, 0, 0, 999, paris)
	if got := FormatStamp(at); got != "20260407T060000Z" {
		t.Fatalf("FormatStamp = %q, want 20260407T060000Z", got)
	}
}

func FuzzParseStamp(f *testing.F) {
	for _, s := range []string{"20260407T060000Z", "../x", "", "20260230T060000Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseStamp(s)
		if err != nil {
			return
		}
		if FormatStamp(ts) != s || !LocalPath(s) || len(s) != 16 {
			t.Fatalf("accepted %q, which does not round-trip or is not a plain name", s)
		}
	})
}
