package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atocore/atocore-backup/validate"
)

// Latest is the word that stands for "the newest valid snapshot" wherever
// a stamp is taken (SPEC).
const Latest = "latest"

// ErrNoValidSnapshot says that a backup directory holds no snapshot that
// passes validation, so "latest" names nothing. It is a NotFoundError.
var ErrNoValidSnapshot = errors.New("no valid snapshot")

// noValidError is the NotFoundError of Newest.
type noValidError struct {
	NotFoundError
	invalid int
	skipped []string
}

func (e *noValidError) Error() string {
	msg := fmt.Sprintf("no valid snapshot in %s for %q to name", e.Path, Latest)
	if e.invalid > 0 {
		msg += fmt.Sprintf(" (%d invalid, newest first: %s)", e.invalid, strings.Join(e.skipped, ", "))
	}
	return msg
}

func (e *noValidError) Unwrap() []error { return []error{&e.NotFoundError, ErrNoValidSnapshot} }

// NewestValid validates the snapshots of cfg's backup directory from the
// newest down and returns the result of the first that passes every
// check: the snapshot "latest" names. None valid is a *NotFoundError
// (errors.Is ErrNoValidSnapshot) that names the invalid ones skipped.
func NewestValid(ctx context.Context, cfg Config) (*validate.Result, error) {
	snaps, err := List(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var skipped []string // the newest invalid ones, for the message
	invalid := 0
	for i := len(snaps) - 1; i >= 0; i-- {
		res, err := validate.Snapshot(ctx, cfg.FS, cfg.BackupDir, snaps[i].Stamp)
		if err != nil {
			return nil, err
		}
		if res.Valid {
			return res, nil
		}
		invalid++
		if len(skipped) < 10 {
			skipped = append(skipped, snaps[i].Stamp)
		}
	}
	return nil, &noValidError{NotFoundError{What: WhatSnapshot, Path: cfg.BackupDir}, invalid, skipped}
}
