package offsite

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

func TestAheadPipeCarriesEveryByteInOrder(t *testing.T) {
	data := make([]byte, 3*pipeChunks*pipeChunkSize+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	p := newAheadPipe()
	go func() {
		// Odd write sizes, across chunk boundaries.
		rest := data
		for len(rest) > 0 {
			n := min(len(rest), 1+rng.IntN(3*pipeChunkSize))
			if _, err := p.Write(rest[:n]); err != nil {
				p.CloseWithError(err)
				return
			}
			rest = rest[n:]
		}
		p.CloseWithError(nil)
	}()
	got, err := io.ReadAll(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes, equal %v, err %v", len(got), len(data), bytes.Equal(got, data), err)
	}
}

func TestAheadPipeErrors(t *testing.T) {
	boom := errors.New("boom")
	p := newAheadPipe()
	go func() {
		_, _ = p.Write([]byte("abc"))
		p.CloseWithError(boom)
	}()
	got, err := io.ReadAll(p)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Fatalf("got %q, %v; want abc, boom", got, err)
	}

	// A writer blocked on a full pipe is released when the reader closes.
	p = newAheadPipe()
	werr := make(chan error, 1)
	go func() {
		_, err := p.Write(make([]byte, (pipeChunks+2)*pipeChunkSize))
		werr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p.Close()
	select {
	case err := <-werr:
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("blocked writer got %v; want io.ErrClosedPipe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a writer blocked on a full pipe was not released by Close")
	}
}
