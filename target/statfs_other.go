//go:build !(linux || darwin || freebsd)

package target

import "errors"

// freeSpace is not implemented here; callers treat ErrUnsupported as "unknown".
func freeSpace(string) (uint64, error) { return 0, errors.ErrUnsupported }
