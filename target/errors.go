package target

import (
	"fmt"
	"io/fs"
)

// NotFoundError says that a target's directory (or bucket) does not exist
// and that nothing was created. errors.Is(err, fs.ErrNotExist) is true.
type NotFoundError struct {
	URL string // the missing place, without secrets
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("target %s does not exist; nothing was created", e.URL)
}

// Is makes errors.Is(err, fs.ErrNotExist) true.
func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }
