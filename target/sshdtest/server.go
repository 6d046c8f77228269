package sshdtest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Server is a running SFTP server that accepts User with the key in
// KeyFile. Everything it needs lives in the test's temporary directories
// and is removed, and the server stopped, when the test ends.
type Server struct {
	Addr string // 127.0.0.1:PORT
	Host string // 127.0.0.1
	Port int
	User string // the current user: sshd can only log in real users
	// KeyFile is the user's private key, unencrypted OpenSSH format.
	KeyFile string
	// KnownHostsFile lists HostKey for Addr ("[127.0.0.1]:PORT ssh-ed25519 ...").
	KnownHostsFile string
	HostKey        ssh.PublicKey
	UserKey        ssh.PublicKey
	// Dir is a fresh, writable, empty directory on this machine.
	Dir string
	// RemoteDir is the SFTP path of Dir: Dir itself for sshd and the
	// in-process server, "/remote" for rclone (which serves a directory
	// as its root).
	RemoteDir string
	// OpenSSH is true for a real sshd, false for the in-process server
	// and rclone.
	OpenSSH bool
	// Rclone is true for `rclone serve sftp` (StartRclone).
	Rclone bool

	authAttempts func() int
}

// AuthAttempts is how many public keys clients have offered the server so
// far, and whether it can tell (only the in-process server can). A client
// that refuses the host key must offer none.
func (s *Server) AuthAttempts() (int, bool) {
	if s.authAttempts == nil {
		return 0, false
	}
	return s.authAttempts(), true
}

// URL is the sftp:// address of path on the server.
func (s *Server) URL(path string) string {
	return "sftp://" + s.User + "@" + s.Addr + path
}

// Options tune a server.
type Options struct {
	// ReadOnly makes the SFTP subsystem refuse every change
	// (internal-sftp -R; sftp.ReadOnly() in process): a target that is not
	// writable even for root.
	ReadOnly bool
	// ECDSAHostKey makes the server offer a second host key, ECDSA P-256,
	// that KnownHostsFile does not list: a client that negotiates a host
	// key type known_hosts lacks fails with a spurious mismatch.
	ECDSAHostKey bool
	// HostCertCA, when set, is a CA private key file: sshd (StartWith
	// only) also offers a host certificate for its ed25519 key, made with
	// `ssh-keygen -s HostCertCA -I host -h -n HostCertPrincipals`.
	HostCertCA         string
	HostCertPrincipals []string
	// AllowTCPForwarding lets clients open direct-tcpip channels
	// (AllowTcpForwarding local; StartWith only): the server can be a
	// ProxyJump host.
	AllowTCPForwarding bool
	// HostCertSigAlg, when set, is the signature algorithm of the CA's
	// signature (ssh-keygen -s -t: ssh-rsa, rsa-sha2-256, rsa-sha2-512;
	// for an RSA CA only).
	HostCertSigAlg string
}

// keys are the throwaway keys and client files of one server.
type keys struct {
	host       ssh.Signer
	hostPEM    []byte
	ecdsa      ssh.Signer
	ecdsaPEM   []byte
	user       ssh.Signer
	keyFile    string
	authorized string // authorized_keys path
}

func newKeys(t testing.TB, dir string) *keys {
	t.Helper()
	k := &keys{}
	var err error
	var hostPEM []byte
	k.host, hostPEM = newKey(t)
	k.hostPEM = hostPEM
	k.ecdsa, k.ecdsaPEM = newECDSAKey(t)
	var userPEM []byte
	k.user, userPEM = newKey(t)
	k.keyFile = filepath.Join(dir, "id_ed25519")
	if err = os.WriteFile(k.keyFile, userPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	k.authorized = filepath.Join(dir, "authorized_keys")
	if err = os.WriteFile(k.authorized, ssh.MarshalAuthorizedKey(k.user.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t testing.TB) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

func newECDSAKey(t testing.TB) (ssh.Signer, []byte) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

// server fills in the fields common to both kinds, and writes known_hosts.
func (k *keys) server(t testing.TB, dir, addr string, openssh bool) *Server {
	t.Helper()
	host, ps, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(ps)
	s := &Server{
		Addr: addr, Host: host, Port: port, User: currentUser(t),
		KeyFile: k.keyFile, HostKey: k.host.PublicKey(), UserKey: k.user.PublicKey(),
		KnownHostsFile: filepath.Join(dir, "known_hosts"),
		Dir:            filepath.Join(dir, "remote"),
		RemoteDir:      filepath.Join(dir, "remote"),
		OpenSSH:        openssh,
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.HostKey) + "\n"
	if err := os.WriteFile(s.KnownHostsFile, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return s
}

func currentUser(t testing.TB) string {
	u, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	return u.Username
}

// PortString is Port in decimal, for command lines.
func (s *Server) PortString() string { return strconv.Itoa(s.Port) }
