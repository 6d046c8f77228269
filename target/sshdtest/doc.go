// Package sshdtest starts SFTP servers for tests: a real OpenSSH sshd on
// a free loopback port (Start), or an in-process server built from
// golang.org/x/crypto/ssh and github.com/pkg/sftp (StartInProcess). Both
// return a *Server with a throwaway ed25519 host key and user key, a
// known_hosts file that lists the host key, and Dir, a writable directory
// that the server's SFTP paths reach as-is (it is a local path).
//
//	srv := sshdtest.Start(t) // skips without sshd, unless ATOCORE_REQUIRE_SSHD=1
//	tgt, err := target.DialSFTP(ctx, target.SFTPConfig{
//		Addr: srv.Addr, User: srv.User, Path: srv.Dir,
//		KnownHostsFile: srv.KnownHostsFile, KeyFile: srv.KeyFile,
//		SSHConfigFile: target.NoSSHConfig, // never the tester's ~/.ssh/config
//	})
//
// StartWith(t, Options{AllowTCPForwarding: true}) is a server that can be
// a ProxyJump host.
//
// Proxy sits between a client and a server and cuts or stalls the
// connection after a number of bytes, to test dropped connections.
package sshdtest
