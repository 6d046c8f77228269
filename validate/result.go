package validate

import (
	"slices"
	"strings"
)

// Result is the outcome of validating one snapshot. Its JSON is the output
// of `atocore-backup validate`.
type Result struct {
	Stamp    string   `json:"stamp"`
	Valid    bool     `json:"valid"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

// Has reports whether any error or warning carries code.
func (r *Result) Has(code string) bool {
	for _, f := range append(slices.Clone(r.Errors), r.Warnings...) {
		if CodeOf(f) == code {
			return true
		}
	}
	return false
}

// Err returns nil for a valid snapshot, else an *Error listing the failures.
func (r *Result) Err() error {
	if r.Valid {
		return nil
	}
	return &Error{Stamp: r.Stamp, Errors: slices.Clone(r.Errors)}
}

func (r *Result) sort() {
	by := func(a, b string) int {
		if d := codeOrder[CodeOf(a)] - codeOrder[CodeOf(b)]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	}
	slices.SortFunc(r.Errors, by)
	slices.SortFunc(r.Warnings, by)
	r.Errors = slices.Compact(r.Errors)
	r.Warnings = slices.Compact(r.Warnings)
	r.Valid = len(r.Errors) == 0
}

// Error is a snapshot that failed validation. Callers that must branch on
// what failed read Errors (or use Result.Has).
type Error struct {
	Stamp  string
	Errors []string
}

func (e *Error) Error() string {
	return "snapshot " + e.Stamp + " is invalid: " + strings.Join(e.Errors, "; ")
}
