package durable

import (
	"io"
	"os"
)

// writebackWindow is how many newly written bytes of a file are handed to
// the disk at a time (see writeback).
const writebackWindow = 16 << 20

// writeback starts the disk writes of a file while it is still being
// written, a window at a time, without waiting for them. A snapshot or a
// restore writes gigabytes into the page cache and then makes them
// durable with one sync: started early, the disk writes them while the
// CPU checks and hashes, and the final sync finds little left to do. It
// is a hint only: durability still comes from the sync that follows
// (and any write error is reported there: nobody has seen it before).
type writeback struct {
	f    *os.File
	done int64 // bytes from 0 already handed to the disk
}

// newWriteback returns the writeback of w when w is an OS file, else nil
// (an in-memory or remote file has no disk to start).
func newWriteback(w io.Writer) *writeback {
	if f, ok := w.(*os.File); ok {
		return &writeback{f: f}
	}
	return nil
}

// wrote says the file now holds end bytes; once a window of them has not
// been handed to the disk, they are.
func (wb *writeback) wrote(end int64) {
	if wb == nil || end-wb.done < writebackWindow {
		return
	}
	writeStarter(wb.f, wb.done, end-wb.done)
	wb.done = end
}

// finish hands the rest of a file of end bytes to the disk.
func (wb *writeback) finish(end int64) {
	if wb == nil || end <= wb.done {
		return
	}
	writeStarter(wb.f, wb.done, end-wb.done)
	wb.done = end
}

// writeStarter is startWrite; tests replace it to see the ranges started.
var writeStarter = startWrite

// StartWriteback starts the disk writes of every byte of f that the page
// cache holds unwritten, without waiting for them: for a file written in
// place (a replay over a staged copy), which the checks that follow read
// while the disk writes it. Like writeback, a hint: the sync that
// follows makes it durable.
func StartWriteback(f *os.File) { writeStarter(f, 0, 0) }
