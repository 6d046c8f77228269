//go:build !linux

package durable

import (
	"context"
	"hash"
	"os"
)

// hashMapped is Linux only: elsewhere hashRange reads.
func hashMapped(*os.File, int64, int64, hash.Hash) error { return errNoMap }

// copyRangeHashed copies in onto out through a buffer, hashing as it goes.
func copyRangeHashed(ctx context.Context, in, out *os.File, h hash.Hash) (int64, error) {
	return copyReadAtHashed(ctx, in, out, 0, h)
}
