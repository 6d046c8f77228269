package target

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultIdentities are the private keys ssh tries, in its order, when
// neither a key file nor an IdentityFile is given (ssh_config(5)), less
// the hardware-backed ones, which need a security key.
var defaultIdentities = []string{"id_rsa", "id_ecdsa", "id_ed25519"}

// auth is the identities one connection offers: a key file given
// explicitly, or the IdentityFile keys of the SSH configuration, or the
// default keys under ~/.ssh; and the agent's keys when asked for.
type auth struct {
	explicit string   // the key file given, "" when none
	files    []string // the identity files loaded
	skipped  []string // identity files not used, each with why
	keys     []ssh.Signer
	agent    *sshAgent // nil: no agent
}

// sshAgent is the connection to the agent at SSH_AUTH_SOCK, shared by the
// hops of one dial and closed after the last handshake.
type sshAgent struct {
	agent agent.ExtendedAgent
	conn  net.Conn
}

func dialAgent() (*sshAgent, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, errors.New("an SSH agent was asked for but SSH_AUTH_SOCK is not set")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("SSH agent at SSH_AUTH_SOCK: %w", err)
	}
	return &sshAgent{agent: agent.NewClient(conn), conn: conn}, nil
}

func (a *sshAgent) close() {
	if a != nil {
		a.conn.Close()
	}
}

// newAuth loads the identities of one host. An explicit key file must
// load (an encrypted one is refused with the fix). Configured and default
// identity files are taken as ssh takes them: a missing one is passed
// over, and so is one ssh would refuse or prompt for (readable by others,
// encrypted, unparsable), noted for the "no identity" message.
func newAuth(keyFile string, h *sshHost, home string, ag *sshAgent) (*auth, error) {
	a := &auth{explicit: keyFile, agent: ag}
	if keyFile != "" {
		pem, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		key, err := ssh.ParsePrivateKey(pem)
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, fmt.Errorf("key file %s is encrypted: add it to an SSH agent and use the agent, or give an unencrypted key", keyFile)
		}
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", keyFile, err)
		}
		a.keys, a.files = []ssh.Signer{key}, []string{keyFile}
	} else {
		files, configured := h.identities, true
		if len(files) == 0 && home != "" {
			configured = false
			for _, n := range defaultIdentities {
				files = append(files, filepath.Join(home, ".ssh", n))
			}
		}
		for _, f := range files {
			a.load(f, configured)
		}
	}
	if len(a.keys) == 0 && a.agent == nil {
		tried := "no key file, no IdentityFile in the ssh config, no " + strings.Join(defaultIdentities, "/") + " under " + filepath.Join(home, ".ssh")
		if len(a.skipped) > 0 {
			tried = strings.Join(a.skipped, "; ")
		}
		return nil, fmt.Errorf("no identity for %s@%s (%s): give a private key file or use an SSH agent", h.user, h.alias, tried)
	}
	return a, nil
}

// load adds the key in file, or notes why it is not used.
func (a *auth) load(file string, configured bool) {
	fi, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) {
		if configured {
			a.skipped = append(a.skipped, "IdentityFile "+file+" does not exist")
		}
		return
	}
	skip := func(why string) { a.skipped = append(a.skipped, file+" "+why) }
	if err != nil {
		skip(err.Error())
		return
	}
	if fi.Mode().Perm()&0o077 != 0 {
		skip(fmt.Sprintf("is not used: permissions %04o let others read it (ssh refuses it too; chmod 600 it)", fi.Mode().Perm()))
		return
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		skip(err.Error())
		return
	}
	key, err := ssh.ParsePrivateKey(pem)
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		skip("is encrypted (add it to an SSH agent and use the agent)")
	case err != nil:
		skip("is not a usable private key: " + err.Error())
	default:
		a.keys = append(a.keys, key)
		a.files = append(a.files, file)
	}
}

// signers offers the key files' keys first, then the agent's.
func (a *auth) signers() ([]ssh.Signer, error) {
	s := append([]ssh.Signer(nil), a.keys...)
	if a.agent != nil {
		as, err := a.agent.agent.Signers()
		if err != nil && len(s) == 0 {
			return nil, fmt.Errorf("SSH agent: %w", err)
		}
		s = append(s, as...)
	}
	return s, nil
}

// failed tells an authentication refusal from other handshake errors
// (x/crypto/ssh has no typed error for it).
func (a *auth) failed(err error) bool {
	return errorContains(err, "unable to authenticate")
}

func (a *auth) String() string {
	var what []string
	if len(a.files) > 0 {
		w := "key file " + strings.Join(a.files, ", ")
		if len(a.files) > 1 {
			w = "key files " + strings.Join(a.files, ", ")
		}
		what = append(what, w)
	}
	if a.agent != nil {
		what = append(what, "the SSH agent's keys")
	}
	return strings.Join(what, " and ")
}
