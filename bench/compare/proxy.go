package main

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy forwards TCP connections from a loopback port to a server and
// counts the bytes in each direction. Every networked tool connects
// through it, so bytes sent are measured the same way for all of them
// (SSH framing and encryption included), whatever each tool reports.
type proxy struct {
	l      net.Listener
	target string

	up   atomic.Int64 // client to server
	down atomic.Int64 // server to client
	// tap, if set, gives each connection a writer that gets a copy of its
	// client-to-server bytes, closed when the connection ends (the HTTP
	// request counter of the S3 server).
	tap func() io.WriteCloser

	mu     sync.Mutex
	idle   *sync.Cond // signalled when active drops to 0
	active int
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// startProxy listens on a free 127.0.0.1 port and forwards each
// connection to target (host:port).
func startProxy(target string) (*proxy, error) { return startTapProxy(target, nil) }

// startTapProxy is startProxy with a tap on every connection's
// client-to-server bytes (see proxy.tap); nil for none.
func startTapProxy(target string, tap func() io.WriteCloser) (*proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{l: l, target: target, conns: map[net.Conn]bool{}, tap: tap}
	p.idle = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// addr is the host:port clients connect to.
func (p *proxy) addr() string { return p.l.Addr().String() }

// port is the port clients connect to.
func (p *proxy) port() int { return p.l.Addr().(*net.TCPAddr).Port }

// counts returns the bytes forwarded so far, client to server and server
// to client.
func (p *proxy) counts() (up, down int64) { return p.up.Load(), p.down.Load() }

// waitIdle waits until no connection is open, so that counts include
// every byte of the connections that were open. It gives up at timeout
// (a client that leaves a connection open) and says so.
func (p *proxy) waitIdle(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.idle.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.active > 0 {
		if ctx.Err() != nil {
			return errors.New("proxy: a connection is still open")
		}
		p.idle.Wait()
	}
	return nil
}

// close stops listening, closes every connection and waits for the
// forwarding goroutines.
func (p *proxy) close() {
	p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		p.active++
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		p.finish(client)
		return
	}
	p.mu.Lock()
	p.conns[server] = true
	p.mu.Unlock()
	defer p.finish(client, server)

	var tee io.WriteCloser
	if p.tap != nil {
		tee = p.tap()
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipe(server, client, &p.up, tee) }()
	go func() { defer wg.Done(); pipe(client, server, &p.down, nil) }()
	wg.Wait()
	if tee != nil {
		_ = tee.Close() // before finish: counts are complete once idle
	}
}

// finish closes one forwarded connection's sockets, after both directions
// are copied, and counts it as no longer active.
func (p *proxy) finish(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
	p.active--
	if p.active == 0 {
		p.idle.Broadcast()
	}
}

// pipe copies src to dst, adding every byte written to n and giving a
// copy to tee (if not nil), and passes the end of src on as a half-close
// of dst.
func pipe(dst, src net.Conn, n *atomic.Int64, tee io.Writer) {
	buf := make([]byte, 256<<10)
	// Hide src's WriterTo and dst's ReaderFrom: the bytes must go through
	// the counting writer.
	_, _ = io.CopyBuffer(countingWriter{dst, n, tee}, struct{ io.Reader }{src}, buf)
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
}

type countingWriter struct {
	w   io.Writer
	n   *atomic.Int64
	tee io.Writer
}

func (c countingWriter) Write(b []byte) (int, error) {
	k, err := c.w.Write(b)
	c.n.Add(int64(k))
	if c.tee != nil && k > 0 {
		_, _ = c.tee.Write(b[:k]) // the tap drains whatever it cannot parse
	}
	return k, err
}
