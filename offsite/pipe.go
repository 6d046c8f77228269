package offsite

import (
	"io"
	"sync"
)

// Pipe buffers: an upload's encryption (and plaintext SHA-256) runs up to
// pipeChunks*pipeChunkSize bytes ahead of the SSH stream that sends it.
const (
	pipeChunkSize = 256 << 10
	pipeChunks    = 4
)

// aheadPipe is io.Pipe with room: Write copies into one of a few chunks
// and returns as soon as one is free, so the writer (age encrypting the
// file) and the reader (hashing the ciphertext and handing it to SSH) run
// at the same time, on two cores, where io.Pipe makes each wait for the
// other at every chunk.
type aheadPipe struct {
	full chan []byte   // written chunks, in order
	free chan []byte   // chunks the reader is done with
	done chan struct{} // closed when the reader closes

	cur, curBuf []byte // what is left of the chunk being read, and that chunk

	mu        sync.Mutex
	err       error // the writer's CloseWithError; set before full is closed
	closeOnce sync.Once
}

func newAheadPipe() *aheadPipe {
	p := &aheadPipe{
		full: make(chan []byte, pipeChunks),
		free: make(chan []byte, pipeChunks),
		done: make(chan struct{}),
	}
	for range pipeChunks {
		p.free <- make([]byte, pipeChunkSize)
	}
	return p
}

// Write copies b into free chunks; it fails with io.ErrClosedPipe once the
// reader has closed.
func (p *aheadPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		var buf []byte
		select {
		case buf = <-p.free:
		case <-p.done:
			return n, io.ErrClosedPipe
		}
		c := copy(buf[:cap(buf)], b)
		select {
		case p.full <- buf[:c]:
		case <-p.done:
			return n, io.ErrClosedPipe
		}
		n += c
		b = b[c:]
	}
	return n, nil
}

// CloseWithError ends the stream: the reader gets err after the data
// written so far (io.EOF when err is nil). Call it once.
func (p *aheadPipe) CloseWithError(err error) {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.full)
	})
}

// Read returns the written bytes in order, then the writer's error or
// io.EOF.
func (p *aheadPipe) Read(b []byte) (int, error) {
	if len(p.cur) == 0 {
		if p.curBuf != nil {
			p.free <- p.curBuf[:cap(p.curBuf)]
			p.curBuf = nil
		}
		buf, ok := <-p.full
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.cur, p.curBuf = buf, buf
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// Close tells the writer that nothing more will be read.
func (p *aheadPipe) Close() error {
	close(p.done)
	return nil
}
