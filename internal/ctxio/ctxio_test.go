package ctxio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReaderStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := NewReader(ctx, strings.NewReader("abcdef"))
	buf := make([]byte, 3)
	if n, err := r.Read(buf); n != 3 || err != nil || string(buf) != "abc" {
		t.Fatalf("first read: %d %v %q", n, err, buf)
	}
	cancel()
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %d %v, want 0 and context.Canceled", n, err)
	}
}

func TestReaderReadsToTheEnd(t *testing.T) {
	b, err := io.ReadAll(NewReader(context.Background(), strings.NewReader("abcdef")))
	if err != nil || string(b) != "abcdef" {
		t.Fatalf("ReadAll: %q %v", b, err)
	}
}
