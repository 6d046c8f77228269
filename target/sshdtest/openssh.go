package sshdtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// RequireEnv is the environment variable that turns "sshd is not
// available" from a skip into a failure. CI sets it to 1 after installing
// openssh-server.
const RequireEnv = "ATOCORE_REQUIRE_SSHD"

// startTimeout bounds how long sshd may take to accept connections.
const startTimeout = 10 * time.Second

// Start runs a real OpenSSH sshd for the test (see StartWith).
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith runs `sshd -D -e -f CONFIG` on a free 127.0.0.1 port with a
// throwaway host key, public-key authentication for the current user only,
// and the internal-sftp subsystem, and stops it (kill and wait) when the
// test ends. When sshd is missing or does not come up, the test is
// skipped, or fails when ATOCORE_REQUIRE_SSHD=1.
//
// Running as root it creates /run/sshd (the privilege separation
// directory sshd insists on) when missing.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := findSSHD()
	if err != nil {
		unavailable(t, err.Error())
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			unavailable(t, "create /run/sshd: "+err.Error())
		}
	}
	dir := t.TempDir()
	k := newKeys(t, dir)
	hostKeys := []string{filepath.Join(dir, "ssh_host_ed25519_key")}
	if err := os.WriteFile(hostKeys[0], k.hostPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var hostCert string
	if o.HostCertCA != "" {
		hostCert = signHostKey(t, hostKeys[0], k, o)
	}
	if o.ECDSAHostKey {
		hostKeys = append(hostKeys, filepath.Join(dir, "ssh_host_ecdsa_key"))
		if err := os.WriteFile(hostKeys[1], k.ecdsaPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var lastErr string
	for range 3 { // a free port can be taken between probe and bind: retry
		addr, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := k.server(t, dir, addr, true)
		cfg := filepath.Join(dir, "sshd_config")
		if err := writeConfig(bin, cfg, s, hostKeys, hostCert, k.authorized, dir, o); err != nil {
			unavailable(t, err.Error())
		}
		if lastErr = run(t, bin, cfg, s.Addr); lastErr == "" {
			return s
		}
	}
	unavailable(t, lastErr)
	return nil
}

func findSSHD() (string, error) {
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("sshd"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil // sshd re-executes itself: it needs an absolute path
		}
	}
	return "", errors.New("sshd not found (install openssh-server: apt-get install -y openssh-server)")
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("real sshd required (%s=1) but unavailable: %s", RequireEnv, why)
	}
	t.Skipf("real sshd unavailable: %s", why)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// signHostKey makes the host certificate of the key in keyFile with
// ssh-keygen, and returns its path.
func signHostKey(t testing.TB, keyFile string, k *keys, o Options) string {
	t.Helper()
	pub := keyFile + ".pub"
	if err := os.WriteFile(pub, ssh.MarshalAuthorizedKey(k.host.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "-s", o.HostCertCA, "-I", "host", "-h", "-n", strings.Join(o.HostCertPrincipals, ",")}
	if o.HostCertSigAlg != "" {
		args = append(args, "-t", o.HostCertSigAlg)
	}
	out, err := exec.Command("ssh-keygen", append(args, pub)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -s: %v: %s", err, out)
	}
	return keyFile + "-cert.pub"
}

func writeConfig(bin, path string, s *Server, hostKeys []string, hostCert, authorized, dir string, o Options) error {
	sftp := "internal-sftp"
	if o.ReadOnly {
		sftp += " -R"
	}
	lines := []string{
		"Port " + fmt.Sprint(s.Port),
		"ListenAddress 127.0.0.1",
		"AuthorizedKeysFile " + authorized,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"StrictModes no",
		"UsePAM no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + s.User,
		"AllowTcpForwarding no",
		"X11Forwarding no",
		"PrintMotd no",
		"MaxStartups 100:30:200",
		"LogLevel INFO",
		"Subsystem sftp " + sftp,
		"UseDNS no",
	}
	for _, k := range hostKeys {
		lines = append(lines, "HostKey "+k)
	}
	if hostCert != "" {
		lines = append(lines, "HostCertificate "+hostCert)
	}
	if o.AllowTCPForwarding {
		for i, l := range lines {
			if l == "AllowTcpForwarding no" {
				lines[i] = "AllowTcpForwarding local"
			}
		}
	}
	// OpenSSH 9.8 and later penalise sources whose connections fail
	// (a refused host key looks like one); tests make many on purpose.
	optional := []string{"PerSourcePenalties no"}
	for {
		all := append(append([]string{}, lines...), optional...)
		if err := os.WriteFile(path, []byte(strings.Join(all, "\n")+"\n"), 0o600); err != nil {
			return err
		}
		out, err := exec.Command(bin, "-t", "-f", path).CombinedOutput()
		if err == nil {
			return nil
		}
		if len(optional) > 0 && bytes.Contains(out, []byte("Bad configuration option")) {
			optional = nil // an older sshd: drop what it does not know
			continue
		}
		return fmt.Errorf("sshd -t rejects the test configuration: %v: %s", err, bytes.TrimSpace(out))
	}
}

// run starts sshd and waits until it accepts connections. It returns ""
// on success, else why it failed.
func run(t testing.TB, bin, cfg, addr string) string {
	t.Helper()
	return startServer(t, "sshd", bin, []string{"-D", "-e", "-f", cfg}, addr)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
