package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshDialer makes the SSH connections of one DialSFTP: the jump hosts,
// each with its own host-key check against the same known_hosts file and
// its own identities, then the target over a direct-tcpip channel of the
// last jump host (or over TCP when there is none).
type sshDialer struct {
	conf    *sshConfig
	home    string
	known   string // the known_hosts file, for every hop
	dialTCP func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration
	agent   *sshAgent

	base  net.Conn      // the TCP connection of the first hop: closing it ends every hop
	stop  func() bool   // unregisters the context's close of base
	jumps []*ssh.Client // the jump hosts' clients, first hop first
}

// dial is a connection to h: TCP, or a channel through h's jump hosts.
func (d *sshDialer) dial(ctx context.Context, h *sshHost, depth int) (net.Conn, error) {
	if len(h.jumps) == 0 {
		if d.base != nil {
			return nil, errors.New("internal: a second TCP connection in one dial")
		}
		conn, err := d.dialTCP(ctx, "tcp", h.addr())
		if err != nil {
			return nil, err
		}
		d.base = conn
		d.stop = context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
	if depth >= maxJumps {
		return nil, &SSHConfigError{File: d.conf.file, Host: h.alias, Keyword: "ProxyJump", Value: jumpList(h.jumps),
			Reason: fmt.Sprintf("more than %d jump hosts: do the ProxyJump lines loop?", maxJumps)}
	}
	last := h.jumps[len(h.jumps)-1]
	jh, err := d.conf.jumpHost(last, h.jumps[:len(h.jumps)-1])
	if err != nil {
		return nil, fmt.Errorf("jump host %s: %w", last, err)
	}
	conn, err := d.dial(ctx, jh, depth+1)
	if err != nil {
		return nil, fmt.Errorf("jump host %s: %w", last, err)
	}
	jc, err := d.handshake(conn, jh, "")
	if err != nil {
		return nil, fmt.Errorf("jump host %s: %w", last, err)
	}
	d.jumps = append(d.jumps, jc)
	_ = d.base.SetDeadline(time.Now().Add(d.timeout))
	conn, err = jc.DialContext(ctx, "tcp", h.addr())
	if err != nil {
		return nil, fmt.Errorf("jump host %s: open a channel to %s: %w", last, h.addr(), err)
	}
	return conn, nil
}

// handshake runs the SSH handshake with h over conn: its host key
// checked under h.keyAddr() before anything is sent, then its identities
// (keyFile when given). Each handshake has the whole timeout.
func (d *sshDialer) handshake(conn net.Conn, h *sshHost, keyFile string) (*ssh.Client, error) {
	hk, err := newHostKeyChecker(d.known, h.keyAddr(), h.addr(), h.hostKeyAlias)
	if err != nil {
		return nil, err
	}
	auth, err := newAuth(keyFile, h, d.home, d.agent)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:              h.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(auth.signers)},
		HostKeyCallback:   hk.callback,
		HostKeyAlgorithms: hk.algorithms(),
		Timeout:           d.timeout,
	}
	_ = d.base.SetDeadline(time.Now().Add(d.timeout))
	cc, chans, reqs, err := ssh.NewClientConn(conn, h.keyAddr(), cfg)
	if err != nil {
		conn.Close()
		var he *HostKeyError
		if errors.As(err, &he) {
			return nil, he
		}
		if auth.failed(err) {
			return nil, fmt.Errorf("authentication failed with %s as user %s: is its public key in the server's authorized_keys? (%w)", auth, h.user, err)
		}
		return nil, err
	}
	return ssh.NewClient(cc, chans, reqs), nil
}

// close ends every connection made (on failure).
func (d *sshDialer) close() {
	for i := len(d.jumps) - 1; i >= 0; i-- {
		d.jumps[i].Close()
	}
	if d.base != nil {
		d.base.Close()
	}
}
