package sshdtest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Fault is what a Proxy does to a connection once its byte budget is spent.
type Fault int

const (
	// Cut closes both sides, as a crashed server or a reset would.
	Cut Fault = iota
	// Stall stops forwarding in both directions and keeps the sockets
	// open, as a vanished host or a black-holed route would: only a
	// timeout can notice.
	Stall
)

// Proxy forwards TCP connections from Addr to a server, and applies its
// Fault to each connection after AfterBytes bytes from client to server.
type Proxy struct {
	Addr       string
	AfterBytes int64
	Fault      Fault
	// Ready, when set, holds the fault back until it returns true (it is
	// asked before each forwarded read once AfterBytes have passed): a
	// test can wait for a state of the server, not only a byte count.
	Ready func() bool

	target string
	l      net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	faults atomic.Int32
}

// NewProxy listens on a free 127.0.0.1 port and forwards to target (a
// host:port on this machine). It is closed when the test ends.
func NewProxy(t testing.TB, target string, afterBytes int64, fault Fault) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), AfterBytes: afterBytes, Fault: fault, target: target, l: l}
	p.wg.Go(p.accept)
	t.Cleanup(p.Close)
	return p
}

// Faults is how many connections the fault has hit so far.
func (p *Proxy) Faults() int { return int(p.faults.Load()) }

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.track(client)
		p.track(server)
		p.wg.Go(func() { p.forward(client, server) })
	}
}

func (p *Proxy) forward(client, server net.Conn) {
	stalled := make(chan struct{})
	var once sync.Once
	fault := func() {
		once.Do(func() {
			p.faults.Add(1)
			if p.Fault == Cut {
				client.Close()
				server.Close()
			}
			close(stalled)
		})
	}
	var wg sync.WaitGroup
	// Server to client: forwarded until the fault.
	wg.Go(func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			select {
			case <-stalled:
				return
			default:
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				client.Close()
				return
			}
		}
	})
	// Client to server: counted, and cut or stalled at the budget.
	budget := p.AfterBytes
	buf := make([]byte, 32<<10)
	held := func() bool { return budget <= 0 && p.Ready != nil && !p.Ready() }
	for budget > 0 || held() {
		want := int64(len(buf))
		if budget > 0 {
			want = min(want, budget)
		}
		n, err := client.Read(buf[:want])
		if n > 0 {
			if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
			budget -= int64(n)
		}
		if err != nil {
			if err != io.EOF {
				break
			}
			server.Close()
			wg.Wait()
			return
		}
	}
	if budget <= 0 {
		fault()
	} else {
		client.Close()
		server.Close()
	}
	wg.Wait()
}
