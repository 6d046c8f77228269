// Package ctxio stops long reads when their context ends: a copy or a
// check of a large file that nobody waits for any more returns at its
// next read instead of running to the end.
package ctxio

import (
	"context"
	"io"
)

// NewReader returns a reader of r whose reads fail with ctx's error once
// ctx has ended.
func NewReader(ctx context.Context, r io.Reader) io.Reader {
	return &reader{ctx: ctx, r: r}
}

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c *reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
