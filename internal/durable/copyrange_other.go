//go:build !linux

package durable

import (
	"context"
	"os"
)

// copyRange copies in from offset 0 to its end onto out with pread and write.
func copyRange(ctx context.Context, in, out *os.File) error {
	return copyReadAt(ctx, in, out, 0)
}
