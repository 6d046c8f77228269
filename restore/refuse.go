package restore

import (
	"errors"
	"fmt"
)

// ErrRefused is matched by errors.Is for every *RefusedError: the restore
// (or drill) refused to start and changed nothing.
var ErrRefused = errors.New("restore refused")

// Reasons a restore refuses (RefusedError.Reason).
const (
	// ReasonNotConfirmed: the caller did not confirm that the service is stopped.
	ReasonNotConfirmed = "not_confirmed"
	// ReasonInvalidSnapshot: the snapshot failed validation.
	ReasonInvalidSnapshot = "invalid_snapshot"
	// ReasonUnsafeLayout: the live paths overlap, the Chroma path is not a
	// Chroma directory, or a mount point lies inside it (rule 8).
	ReasonUnsafeLayout = "unsafe_layout"
	// ReasonServiceRunning: another process has the live database or
	// chroma.sqlite3 open (rule 8).
	ReasonServiceRunning = "service_running"
	// ReasonMissingPath: the snapshot holds something that no live path is
	// set for, or a forced Chroma restore has nothing to restore.
	ReasonMissingPath = "missing_path"
	// ReasonInterrupted: an earlier restore was killed while replacing the
	// live files, and this one would not complete it (it leaves Chroma
	// out), or its journal cannot be read.
	ReasonInterrupted = "interrupted_restore"
)

// RefusedError says why a restore refused. Nothing was changed. Use
// errors.As to read the reason, errors.Is(err, ErrRefused) to branch.
type RefusedError struct {
	Reason string // one of the Reason constants
	// What is the live path the refusal is about (backup.WhatDB,
	// WhatRegistry, WhatChroma, WhatBackupDir), "" when none.
	What   string
	Detail string // what was found, naming the path or process
	// Err is the underlying cause, when there is one (a *validate.Error
	// for ReasonInvalidSnapshot).
	Err error
}

func (e *RefusedError) Error() string {
	msg := "refused: " + e.Detail
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + "; nothing was changed"
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Unwrap returns the cause.
func (e *RefusedError) Unwrap() error { return e.Err }

func refuse(reason, format string, args ...any) *RefusedError {
	return &RefusedError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
