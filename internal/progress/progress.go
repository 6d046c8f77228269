// Package progress carries a byte meter through a context: the long
// operations (create, validate, restore, push, pull) add what they plan to
// move to its total and what they moved to its count, and whoever set the
// meter (a progress bar) is told. Without a meter every call is a no-op.
package progress

import (
	"context"
	"sync"
)

// Func is told the bytes done so far and the total planned so far (the
// total grows as an operation discovers its work; done never passes it).
type Func func(done, total int64)

// Meter counts bytes for one operation; safe for concurrent use.
type Meter struct {
	mu          sync.Mutex
	done, total int64
	report      Func
}

type key struct{}

// With returns a context that carries a new meter reporting to report.
func With(ctx context.Context, report Func) context.Context {
	if report == nil {
		return ctx
	}
	return context.WithValue(ctx, key{}, &Meter{report: report})
}

func from(ctx context.Context) *Meter {
	m, _ := ctx.Value(key{}).(*Meter)
	return m
}

// Plan adds n bytes to the total of ctx's meter.
func Plan(ctx context.Context, n int64) {
	if m := from(ctx); m != nil && n > 0 {
		m.mu.Lock()
		m.total += n
		m.tell()
		m.mu.Unlock()
	}
}

// Add counts n bytes done on ctx's meter.
func Add(ctx context.Context, n int64) {
	if m := from(ctx); m != nil && n > 0 {
		m.mu.Lock()
		m.done += n
		m.tell()
		m.mu.Unlock()
	}
}

// tell reports, with done held at most at total. m.mu is held.
func (m *Meter) tell() {
	m.report(min(m.done, m.total), m.total)
}
