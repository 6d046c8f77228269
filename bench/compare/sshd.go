package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux port that Go supports.
const clockTicks = 100

// network is the loopback SSH server of the push operations: a throwaway
// OpenSSH sshd on a free 127.0.0.1 port, with throwaway keys, behind a
// counting proxy. Clients only ever see the proxy's port.
type network struct {
	user       string
	keyFile    string // the client's private key
	knownHosts string // lists the host key for the proxy's address
	recipient  string // age recipient of ours' push; the identity is beside it
	sshdLog    string

	cmd    *exec.Cmd
	exited chan struct{}
	proxy  *proxy
}

// startNetwork writes keys and an sshd_config under dir, starts sshd and
// the proxy in front of it, and waits until sshd accepts connections.
func startNetwork(sshdPath, dir string) (*network, error) {
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("current user (sshd logs in a real user): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// The privilege separation directory sshd insists on when root.
		_ = os.MkdirAll("/run/sshd", 0o755)
	}
	n := &network{user: u.Username, sshdLog: filepath.Join(dir, "sshd.log")}
	hostKey, err := n.writeKeys(dir)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "sshd_config")
	if err := writeSSHDConfig(cfg, dir, n.user, port); err != nil {
		return nil, err
	}
	if out, err := exec.Command(sshdPath, "-t", "-f", cfg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sshd -t rejects %s: %v: %s", cfg, err, bytes.TrimSpace(out))
	}
	if err := n.startSSHD(sshdPath, cfg, port); err != nil {
		return nil, err
	}
	if n.proxy, err = startProxy(fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		n.close()
		return nil, err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(n.proxy.addr())}, hostKey) + "\n"
	n.knownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(n.knownHosts, []byte(line), 0o600); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// writeKeys writes the host key, the client key, authorized_keys and an
// age identity under dir, and returns the host's public key.
func (n *network) writeKeys(dir string) (ssh.PublicKey, error) {
	hostPEM, hostPub, err := newSSHKey()
	if err != nil {
		return nil, err
	}
	userPEM, userPub, err := newSSHKey()
	if err != nil {
		return nil, err
	}
	n.keyFile = filepath.Join(dir, "id_ed25519")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	n.recipient = id.Recipient().String()
	files := map[string][]byte{
		"ssh_host_ed25519_key": hostPEM,
		"id_ed25519":           userPEM,
		"authorized_keys":      ssh.MarshalAuthorizedKey(userPub),
		"age-identity.txt":     []byte(id.String() + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return hostPub, nil
}

func newSSHKey() ([]byte, ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(block), sshPub, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeSSHDConfig writes a configuration that listens on loopback only,
// accepts the one user with the throwaway key, serves internal-sftp,
// keeps the user's shell start-up files out of the way, and gives borg
// serve a base directory inside dir rather than the user's home.
func writeSSHDConfig(path, dir, userName string, port int) error {
	lines := []string{
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(dir, "ssh_host_ed25519_key"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"StrictModes no",
		"UsePAM no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + userName,
		"AllowTcpForwarding no",
		"X11Forwarding no",
		"PrintMotd no",
		"UseDNS no",
		"MaxStartups 100:30:200",
		"Subsystem sftp internal-sftp",
		// SHLVL=1 keeps bash, the login shell that starts the remote
		// rsync and borg serve, from reading ~/.bashrc (it does so for
		// top-level shells run by sshd); a slow one, such as pyenv's,
		// would add a second to every rsync and borg connection and
		// nothing to sftp, which needs no shell.
		"SetEnv SHLVL=1 BORG_BASE_DIR=" + filepath.Join(dir, "borg-serve"),
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// startSSHD runs sshd in the foreground (-D) in its own process group and
// waits up to 10 s for it to accept connections on port.
func (n *network) startSSHD(sshdPath, cfg string, port int) error {
	logf, err := os.Create(n.sshdLog)
	if err != nil {
		return err
	}
	defer logf.Close()
	n.cmd = exec.Command(sshdPath, "-D", "-e", "-f", cfg)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	// Its own group (Ctrl-C reaches us, and we stop it), and SIGTERM if
	// this process dies without stopping it.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) { // bounded: 10 s of 50 ms tries
		select {
		case <-n.exited:
			return fmt.Errorf("sshd exited at start: %s", tail(n.sshdLog))
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.close()
	return fmt.Errorf("sshd did not accept connections on 127.0.0.1:%d within 10 s: %s", port, tail(n.sshdLog))
}

// close stops the proxy and sshd (SIGTERM to its group, SIGKILL after 5 s).
func (n *network) close() {
	if n.proxy != nil {
		n.proxy.close()
	}
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
}

// host and port are where clients connect: the proxy.
func (n *network) host() string { return "127.0.0.1" }
func (n *network) port() int    { return n.proxy.port() }

// sshCommand is the ssh client command line every peer uses: no user
// configuration, the throwaway key only, the host key checked, no prompts.
// withPort adds -p (borg takes the port from its ssh:// URL instead).
func (n *network) sshCommand(withPort bool) string {
	s := "ssh -F none -i " + n.keyFile + " -o IdentitiesOnly=yes -o UserKnownHostsFile=" + n.knownHosts +
		" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes"
	if withPort {
		s += " -p " + strconv.Itoa(n.port())
	}
	return s
}

// sample is what the server has seen so far.
func (n *network) sample() serverSample {
	up, down := n.proxy.counts()
	cpu, _ := n.serverCPU()
	return serverSample{up: up, down: down, cpu: cpu}
}

// settle waits until the proxy has no open connection and sshd has reaped
// every connection process, so that bytes and server CPU are complete.
func (n *network) settle() error {
	err := n.proxy.waitIdle(10 * time.Second)
	for i := 0; i < 100 && n.hasChildren(); i++ { // bounded: 5 s
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

func (n *network) hasChildren() bool {
	pid := n.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	return err == nil && len(bytes.TrimSpace(b)) > 0
}

// serverCPU is the user+system CPU time of sshd's reaped descendants: the
// connection processes, internal-sftp, and the remote rsync or borg serve.
// Its growth across a command is the server side's CPU for it.
func (n *network) serverCPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStatTimes(b, 13, 14) // cutime, cstime
}
