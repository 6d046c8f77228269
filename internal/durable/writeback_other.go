//go:build !linux

package durable

import "os"

// startWrite does nothing where sync_file_range(2) does not exist: the
// caller's later sync writes everything.
func startWrite(*os.File, int64, int64) {}
