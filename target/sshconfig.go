package target

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// NoSSHConfig, as SFTPConfig.SSHConfigFile, reads no OpenSSH client
// configuration at all (ssh -F none). "none" means the same.
const NoSSHConfig = "-"

// SSHConfigError is an OpenSSH client configuration that is not used:
// unreadable, writable by others, unparsable, a value that cannot be
// taken, or an option that would run a command (ProxyCommand,
// KnownHostsCommand). Nothing was dialled: callers may treat it as a
// refusal that touched nothing.
type SSHConfigError struct {
	File    string // the configuration file
	Host    string // the host looked up; "" when the file as a whole is refused
	Keyword string // the keyword at fault; "" when the file as a whole is refused
	Value   string // its value
	Reason  string // what is wrong, and the fix
	Err     error  // the underlying error, if any
}

// Error is one line naming the file, the host, the keyword and the fix.
func (e *SSHConfigError) Error() string {
	s := "ssh config " + e.File + ": "
	if e.Keyword != "" {
		s += fmt.Sprintf("Host %s: %s %q: ", e.Host, e.Keyword, e.Value)
	}
	if e.Err != nil {
		s += oneLine(e.Err.Error()) + "; "
	}
	return s + e.Reason
}

// Unwrap is the underlying error.
func (e *SSHConfigError) Unwrap() error { return e.Err }

// sshConfig is an OpenSSH client configuration file (~/.ssh/config),
// parsed with github.com/kevinburke/ssh_config and looked up as ssh does:
// the blocks whose Host patterns match the name as written, in file
// order, the first value of each keyword winning.
type sshConfig struct {
	file string // "" when none is read
	home string
	cfg  *ssh_config.Config
}

// homeDir is the home directory ssh uses: the password database's entry
// for the current user (ssh ignores $HOME), else $HOME.
func homeDir(home string) string {
	if home != "" {
		return home
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return os.Getenv("HOME")
}

// loadSSHConfig reads the configuration at file: "" is home's
// .ssh/config, read only when it exists; NoSSHConfig or "none" is none. A
// file that ssh would refuse (writable by others) or that does not parse
// is an error naming it.
func loadSSHConfig(file, home string) (*sshConfig, error) {
	c := &sshConfig{home: home}
	if file == NoSSHConfig || file == "none" {
		return c, nil
	}
	explicit := file != ""
	if !explicit {
		if home == "" {
			return c, nil // no home directory: no ~/.ssh/config (never one in the working directory)
		}
		file = filepath.Join(home, ".ssh", "config")
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return c, nil
	}
	if err != nil {
		return nil, &SSHConfigError{File: file, Err: err, Reason: "give another file, or none"}
	}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, &SSHConfigError{File: file, Err: err, Reason: "give another file, or none"}
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, &SSHConfigError{File: file, Reason: fmt.Sprintf("bad permissions %04o: others can write it (ssh refuses it too); chmod go-w %s", fi.Mode().Perm(), file)}
	}
	cfg, err := ssh_config.DecodeBytes(data)
	if err != nil {
		return nil, &SSHConfigError{File: file, Err: err, Reason: "fix the file, or read none"}
	}
	c.file, c.cfg = file, cfg
	return c, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// get is the first value of key for alias, "" when there is none.
func (c *sshConfig) get(alias, key string) string {
	if vs := c.lookup(alias, key, true); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// getAll is every value of key for alias, in order (IdentityFile).
func (c *sshConfig) getAll(alias, key string) []string { return c.lookup(alias, key, false) }

// lookup walks the blocks that match alias, in file order, as ssh does.
// Host patterns are matched as OpenSSH matches them (matchHostPatterns:
// case-insensitive, '?' one character, a matching '!' pattern excludes
// the block). "Match host" (the only Match criterion the library keeps,
// with "Match all") is matched, as ssh matches it, against the HostName
// obtained from the blocks before it (%h expanded), else the name as
// written. Included files are looked up by the library.
func (c *sshConfig) lookup(alias, key string, first bool) []string {
	if c.cfg == nil {
		return nil
	}
	alias = strings.ToLower(alias)
	hostName := "" // the first HostName so far, for Match host
	var out []string
	for _, h := range c.cfg.Hosts {
		var pats []string
		for _, p := range h.Patterns {
			pats = append(pats, p.String())
		}
		name := alias
		if hostName != "" && isMatchBlock(h) {
			name = strings.ToLower(hostName)
		}
		if !matchHostPatterns(pats, name) {
			continue
		}
		for _, n := range h.Nodes {
			var vals []string
			var hn string
			switch n := n.(type) {
			case *ssh_config.KV:
				if strings.EqualFold(n.Key, key) {
					vals = []string{n.Value}
				}
				if strings.EqualFold(n.Key, "HostName") {
					hn = n.Value
				}
			case *ssh_config.Include:
				if first {
					if v := n.Get(alias, key); v != "" {
						vals = []string{v}
					}
				} else if vs, err := n.GetAll(alias, key); err == nil {
					vals = vs
				}
				hn = n.Get(alias, "HostName")
			}
			if hostName == "" && hn != "" {
				if x, err := expandTokens(hn, map[byte]string{'h': alias}); err == nil {
					hostName = x
				}
			}
			out = append(out, vals...)
			if first && len(out) > 0 {
				return out
			}
		}
	}
	return out
}

// isMatchBlock tells a Match block from a Host block (the library keeps
// the difference only for printing).
func isMatchBlock(h *ssh_config.Host) bool {
	return strings.HasPrefix(strings.TrimLeft(h.String(), " \t"), "Match")
}

// sshHost is one host as ssh would reach it: the name as written, and
// what the configuration and the defaults make of it.
type sshHost struct {
	alias        string // as written in the URL or the ProxyJump list
	hostName     string // HostName (%h expanded), else alias
	port         int
	user         string
	identities   []string // IdentityFile values, expanded; nil: none configured
	hostKeyAlias string
	knownHosts   string     // UserKnownHostsFile, expanded; "" none configured
	jumps        []jumpSpec // ProxyJump hops, first hop first
}

// addr is host:port to connect to.
func (h *sshHost) addr() string { return joinHostPort(h.hostName, h.port) }

// keyAddr is what known_hosts is consulted for: HostKeyAlias alone (as
// OpenSSH does, without the port), else HostName and port.
func (h *sshHost) keyAddr() string {
	if h.hostKeyAlias != "" {
		return joinHostPort(h.hostKeyAlias, 22)
	}
	return h.addr()
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), strconv.Itoa(port))
}

// resolve is alias as ssh would reach it: explicit values (user, port;
// "" and 0 when not given) first, then the configuration, then the
// defaults (the local user, port 22).
func (c *sshConfig) resolve(alias, user string, port int) (*sshHost, error) {
	h := &sshHost{alias: alias, user: user, port: port}
	bad := func(key, val, why string) error {
		return &SSHConfigError{File: c.file, Host: alias, Keyword: key, Value: val, Reason: why}
	}
	for _, key := range []string{"ProxyCommand", "KnownHostsCommand"} {
		if v := c.get(alias, key); v != "" && !strings.EqualFold(v, "none") {
			return nil, bad(key, v, "running commands from an ssh config is not supported; use ProxyJump, or an explicit address")
		}
	}
	h.hostName = alias
	if v := c.get(alias, "HostName"); v != "" {
		hn, err := expandTokens(v, map[byte]string{'h': alias})
		if err != nil {
			return nil, bad("HostName", v, err.Error())
		}
		h.hostName = hn
	}
	if h.port == 0 {
		h.port = 22
		if v := c.get(alias, "Port"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				return nil, bad("Port", v, "want 1-65535")
			}
			h.port = n
		}
	}
	if h.user == "" {
		h.user = c.get(alias, "User")
	}
	if h.user == "" {
		h.user = localUser()
	}
	h.hostKeyAlias = c.get(alias, "HostKeyAlias")
	tokens := map[byte]string{'h': h.hostName, 'p': strconv.Itoa(h.port), 'r': h.user, 'u': localUser(), 'd': c.home, 'n': alias}
	for _, v := range c.getAll(alias, "IdentityFile") {
		if strings.EqualFold(v, "none") {
			continue
		}
		p, err := c.expandPath(v, tokens)
		if err != nil {
			return nil, bad("IdentityFile", v, err.Error())
		}
		h.identities = append(h.identities, p)
	}
	if v := c.get(alias, "UserKnownHostsFile"); v != "" {
		if len(strings.Fields(v)) > 1 {
			return nil, bad("UserKnownHostsFile", v, "several files are not supported; name one, or give the known_hosts file explicitly")
		}
		p, err := c.expandPath(v, tokens)
		if err != nil {
			return nil, bad("UserKnownHostsFile", v, err.Error())
		}
		h.knownHosts = p
	}
	if v := c.get(alias, "ProxyJump"); v != "" && !strings.EqualFold(v, "none") {
		js, err := parseJumps(v)
		if err != nil {
			return nil, bad("ProxyJump", v, err.Error())
		}
		h.jumps = js
	}
	return h, nil
}

// expandPath expands a leading ~ to the home directory, then the tokens;
// a relative result is taken from the home directory, as ssh does.
func (c *sshConfig) expandPath(v string, tokens map[byte]string) (string, error) {
	if c.home == "" && (strings.HasPrefix(v, "~") || !filepath.IsAbs(v)) {
		return "", errors.New("no home directory to take it from; write an absolute path")
	}
	if v == "~" || strings.HasPrefix(v, "~/") {
		v = filepath.Join(c.home, v[1:])
	} else if strings.HasPrefix(v, "~") {
		return "", errors.New("~user is not supported; write the path")
	}
	p, err := expandTokens(v, tokens)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.home, p)
	}
	return p, nil
}

// expandTokens replaces %% and the tokens given; any other % sequence is
// an error, as with ssh.
func expandTokens(s string, tokens map[byte]string) (string, error) {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("ends in %")
		}
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := tokens[s[i]]
		if !ok {
			return "", fmt.Errorf("token %%%c is not supported here", s[i])
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
