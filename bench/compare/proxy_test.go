package main

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer answers every connection with what it reads, then closes its
// side once the client has closed its own.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

// exchange sends n bytes through addr, closes its write side, and reads
// the echo back to the end.
func exchange(t *testing.T, addr string, n int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	payload := bytes.Repeat([]byte("atocore!"), n/8)
	var got []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); got, _ = io.ReadAll(c) }()
	if _, err := c.Write(payload); err != nil {
		t.Error(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	wg.Wait()
	if !bytes.Equal(got, payload) {
		t.Errorf("echo through the proxy: got %d bytes, want the %d sent", len(got), len(payload))
	}
}

func TestProxyCountsBothDirections(t *testing.T) {
	p, err := startProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()

	exchange(t, p.addr(), 1<<20)
	if err := p.waitIdle(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if up, down := p.counts(); up != 1<<20 || down != 1<<20 {
		t.Errorf("counts after 1 MiB echoed = %d up, %d down; want %d both", up, down, 1<<20)
	}

	// Counts accumulate over connections, concurrent ones included.
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); exchange(t, p.addr(), 64<<10) }()
	}
	wg.Wait()
	if err := p.waitIdle(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := int64(1<<20 + 3*64<<10)
	if up, down := p.counts(); up != want || down != want {
		t.Errorf("counts after three more connections = %d up, %d down; want %d both", up, down, want)
	}
}

func TestProxyWaitIdleTimesOutOnAnOpenConnection(t *testing.T) {
	p, err := startProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	c, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if err := p.waitIdle(100 * time.Millisecond); err == nil {
		t.Error("waitIdle returned nil with a connection open")
	}
}
