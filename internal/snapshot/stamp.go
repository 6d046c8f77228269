package snapshot

import (
	"errors"
	"fmt"
	"time"
)

// StampLayout is the time layout of a snapshot stamp: UTC, to the second.
const StampLayout = "20060102T150405Z"

// ErrBadStamp is returned (wrapped) for a string that is not a snapshot stamp.
var ErrBadStamp = errors.New("malformed snapshot stamp")

// ParseStamp returns the instant a stamp names. It accepts exactly
// YYYYMMDDTHHMMSSZ (16 characters, a real UTC date and time) and nothing
// else, so that a stamp can be joined to a path without any chance of
// leaving the snapshots directory ("../x", "20260407T060000Z/..").
func ParseStamp(s string) (time.Time, error) {
	if len(s) != len(StampLayout) {
		return time.Time{}, fmt.Errorf("%w %q: want UTC YYYYMMDDTHHMMSSZ, e.g. 20260407T060000Z", ErrBadStamp, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8:
			if c != 'T' {
				return time.Time{}, fmt.Errorf("%w %q: want UTC YYYYMMDDTHHMMSSZ, e.g. 20260407T060000Z", ErrBadStamp, s)
			}
		case 15:
			if c != 'Z' {
				return time.Time{}, fmt.Errorf("%w %q: want UTC YYYYMMDDTHHMMSSZ, e.g. 20260407T060000Z", ErrBadStamp, s)
			}
		default:
			if c < '0' || c > '9' {
				return time.Time{}, fmt.Errorf("%w %q: want UTC YYYYMMDDTHHMMSSZ, e.g. 20260407T060000Z", ErrBadStamp, s)
			}
		}
	}
	t, err := time.Parse(StampLayout, s)
	if err != nil || t.Format(StampLayout) != s {
		return time.Time{}, fmt.Errorf("%w %q: not a real date and time", ErrBadStamp, s)
	}
	return t, nil
}

// IsStamp reports whether s is a well-formed stamp.
func IsStamp(s string) bool {
	_, err := ParseStamp(s)
	return err == nil
}

// FormatStamp returns the stamp of t, converted to UTC and truncated to the second.
func FormatStamp(t time.Time) string {
	return t.UTC().Format(StampLayout)
}
