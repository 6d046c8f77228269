package sshdtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// StartInProcess runs an SFTP server inside the test process: an
// x/crypto/ssh server on a free 127.0.0.1 port that accepts the throwaway
// user key and serves the "sftp" subsystem with sftp.NewServer over the OS
// filesystem. It needs no sshd, so it always runs; it differs from OpenSSH
// where pkg/sftp does (no fsync@openssh.com; rename(2) semantics).
func StartInProcess(t testing.TB) *Server { return StartInProcessWith(t, Options{}) }

// StartInProcessWith is StartInProcess with options.
func StartInProcessWith(t testing.TB, o Options) *Server {
	t.Helper()
	dir := t.TempDir()
	k := newKeys(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := k.server(t, dir, l.Addr().String(), false)

	want := k.user.PublicKey().Marshal()
	var attempts atomic.Int64
	s.authAttempts = func() int { return int(attempts.Load()) }
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			attempts.Add(1)
			if c.User() == s.User && bytes.Equal(key.Marshal(), want) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(k.host)
	if o.ECDSAHostKey {
		cfg.AddHostKey(k.ecdsa)
	}
	var opts []sftp.ServerOption
	if o.ReadOnly {
		opts = append(opts, sftp.ReadOnly())
	}

	srv := &inProcess{l: l, cfg: cfg, opts: opts, conns: map[net.Conn]bool{}}
	srv.wg.Go(srv.accept)
	t.Cleanup(srv.close)
	return s
}

type inProcess struct {
	l    net.Listener
	cfg  *ssh.ServerConfig
	opts []sftp.ServerOption
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func (p *inProcess) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Go(func() {
			p.serve(c)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		})
	}
}

func (p *inProcess) serve(c net.Conn) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, p.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go p.session(ch, creqs)
	}
}

// session serves one session channel: only the sftp subsystem.
func (p *inProcess) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	for req := range reqs {
		ok := req.Type == "subsystem" && subsystem(req.Payload) == "sftp"
		_ = req.Reply(ok, nil)
		if !ok {
			continue
		}
		go func() {
			defer ch.Close()
			srv, err := sftp.NewServer(ch, p.opts...)
			if err != nil {
				return
			}
			_ = srv.Serve()
			_ = srv.Close()
		}()
	}
}

// subsystem decodes the subsystem request's payload: one SSH string.
func subsystem(payload []byte) string {
	if len(payload) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(payload)
	if uint64(n) > uint64(len(payload)-4) {
		return ""
	}
	return string(payload[4 : 4+n])
}

func (p *inProcess) close() {
	p.l.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
