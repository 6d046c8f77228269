package backup

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/afero"
)

// What a NotFoundError or a MissingPathError is about.
const (
	WhatRoot      = "AtoCore root"
	WhatDB        = "live database"
	WhatRegistry  = "project registry"
	WhatChroma    = "Chroma directory"
	WhatBackupDir = "backup directory"
	WhatSnapshot  = "snapshot"
)

// NotFoundError says that a path an operation needs does not exist, and
// that the operation created nothing because of it. errors.Is(err,
// fs.ErrNotExist) is true. A caller that knows where the path came from (a
// flag, the environment, a default) adds that to its message.
type NotFoundError struct {
	What string // WhatRoot, WhatDB, WhatBackupDir, WhatSnapshot, ...
	Path string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %s does not exist; nothing was created", e.What, e.Path)
}

// Is makes errors.Is(err, fs.ErrNotExist) true.
func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// MissingPathError says that an operation needs a path that is neither set
// nor derived from an AtoCore root.
type MissingPathError struct {
	What string // WhatDB, WhatRegistry, WhatChroma or WhatBackupDir
}

func (e *MissingPathError) Error() string {
	return fmt.Sprintf("no %s path is set and there is no AtoCore root to derive it from", e.What)
}

// existsDirOn returns a *NotFoundError when the directory path does not
// exist on fsys, and an error when it exists and is not a directory.
func existsDirOn(fsys afero.Fs, what, path string) error {
	fi, err := fsys.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &NotFoundError{What: what, Path: path}
	case err != nil:
		return fmt.Errorf("%s %s: %w", what, path, err)
	case !fi.IsDir():
		return fmt.Errorf("%s %s is not a directory", what, path)
	}
	return nil
}

// fs is cfg.FS, or the OS filesystem when it is nil.
func (cfg Config) fs() afero.Fs {
	if cfg.FS == nil {
		return afero.NewOsFs()
	}
	return cfg.FS
}
