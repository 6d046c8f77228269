package target_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

// sshHome makes a home directory with .ssh/ holding files (name to
// content; a name ending in "key" is copied from the path given, 0600).
func sshHome(t *testing.T, files map[string]string) string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, ".ssh")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if strings.HasSuffix(name, "key") {
			content = string(mustRead(t, content))
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// knownLine is srv's known_hosts line under name ("" for its address).
func knownLine(srv *sshdtest.Server, name string) string {
	if name == "" {
		name = knownhosts.Normalize(srv.Addr)
	}
	return knownhosts.Line([]string{name}, srv.HostKey) + "\n"
}

// dialLog is an SFTPConfig.Dial that records every address dialled and
// refuses those not allowed (nil allows all).
type dialLog struct {
	mu      sync.Mutex
	dialled []string
	allow   []string
}

func (l *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	l.dialled = append(l.dialled, addr)
	l.mu.Unlock()
	if l.allow != nil && !contains(l.allow, addr) {
		return nil, fmt.Errorf("test: dial %s refused", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (l *dialLog) addrs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.dialled...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSSHConfigResolution: a URL host that is an alias of ~/.ssh/config
// reaches a real sshd as ssh would: HostName, Port, User and IdentityFile
// from the first block that sets each (Host * after the alias's own),
// known_hosts and keys from the home directory when none are given, and
// the URL printed as written.
func TestSSHConfigResolution(t *testing.T) {
	srv := sshdtest.Start(t)
	wrong := t.TempDir() + "/no-such-key"
	for _, tc := range []struct {
		name   string
		config string
		files  map[string]string
		addr   string
		user   string
	}{
		{name: "alias", addr: "vault", config: `
Host vault
    HostName 127.0.0.1
    Port ` + srv.PortString() + `
    User ` + srv.User + `
    IdentityFile ~/.ssh/vault_key
Host *
    User nobody-at-all
    Port 1
    IdentityFile ` + wrong + `
`, files: map[string]string{"vault_key": srv.KeyFile, "known_hosts": knownLine(srv, "")}},
		{name: "pattern, %h, default identity and user", addr: "127.0.0.1", config: `
Host 127.0.0.? !10.*
    HostName %h
    Port=` + srv.PortString() + `
`, files: map[string]string{"id_ed25519_key": srv.KeyFile, "known_hosts": knownLine(srv, "")}},
		{name: "HostKeyAlias and UserKnownHostsFile", addr: "VAULT", config: `
host vault
    hostname 127.0.0.1
    port ` + srv.PortString() + `
    HostKeyAlias vault.example
    UserKnownHostsFile ~/.ssh/vault_known
    IdentityFile %d/.ssh/vault_key
`, files: map[string]string{"vault_key": srv.KeyFile, "vault_known": knownLine(srv, "vault.example"), "known_hosts": knownLine(srv, "vault.example:1")}},
		{name: "explicit port and user win", addr: srv.Addr, user: srv.User, config: `
Host 127.0.0.1
    Port 1
    User nobody-at-all
    IdentityFile ~/.ssh/vault_key
`, files: map[string]string{"vault_key": srv.KeyFile, "known_hosts": knownLine(srv, "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := sshHome(t, tc.files)
			// The default key's name: id_ed25519 (the "key" suffix copied it).
			if k := filepath.Join(home, ".ssh", "id_ed25519_key"); fileExists(k) {
				if err := os.Rename(k, filepath.Join(home, ".ssh", "id_ed25519")); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(srv.Dir, strings.NewReplacer(" ", "-", "%", "", ",", "").Replace(tc.name))
			tgt, err := target.DialSFTP(t.Context(), target.SFTPConfig{Addr: tc.addr, User: tc.user, Path: dir, Home: home})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			want := "sftp://" + tc.addr + dir
			if tc.user != "" {
				want = "sftp://" + tc.user + "@" + tc.addr + dir
			}
			if tgt.URL() != want {
				t.Errorf("URL() = %q, want %q (as written)", tgt.URL(), want)
			}
			if _, err := os.Stat(dir); err != nil {
				t.Errorf("target directory not created on the server: %v", err)
			}
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestSSHConfigRefusals: what the configuration cannot do. It cannot turn
// host-key checking off, a host is checked under its HostName, commands
// are refused before anything is dialled, an explicit user wins, and a
// bad file is one line naming it.
func TestSSHConfigRefusals(t *testing.T) {
	srv := sshdtest.Start(t)
	vault := "Host vault\n    HostName 127.0.0.1\n    Port " + srv.PortString() + "\n    IdentityFile ~/.ssh/vault_key\n"
	for _, tc := range []struct {
		name     string
		config   string
		known    string
		user     string
		perm     os.FileMode
		sentinel error
		words    []string
		dials    bool // the server is dialled
	}{
		{name: "known under the alias only", config: vault, known: knownLine(srv, "[vault]:"+srv.PortString()), sentinel: target.ErrUnknownHost, dials: true,
			words: []string{"not in known_hosts", "ssh-keyscan -p " + srv.PortString() + " 127.0.0.1 >> "}},
		{name: "StrictHostKeyChecking no", config: vault + "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n", sentinel: target.ErrUnknownHost, dials: true,
			words: []string{"not in known_hosts file /dev/null"}},
		{name: "HostKeyAlias not known", config: vault + "    HostKeyAlias vault.example\n", known: knownLine(srv, ""), sentinel: target.ErrUnknownHost, dials: true,
			words: []string{"ssh-keyscan -p " + srv.PortString() + " 127.0.0.1 | sed 's/^[^ ]*/vault.example/' >> "}},
		{name: "ProxyCommand", config: vault + "    ProxyCommand nc %h %p\n", words: []string{"ProxyCommand", "not supported"}},
		{name: "KnownHostsCommand", config: vault + "    KnownHostsCommand /bin/cat\n", words: []string{"KnownHostsCommand", "not supported"}},
		{name: "explicit user wins", config: vault + "    User " + srv.User + "\n", user: "nobody-at-all", dials: true,
			words: []string{"authentication failed with key file", "as user nobody-at-all"}},
		{name: "bad port", config: "Host vault\n    Port 99999\n", words: []string{"Port", "99999", "1-65535"}},
		{name: "unsupported Match", config: "Match user x\n    Port 2\n" + vault, words: []string{"unsupported Match criterion"}},
		{name: "writable by others", config: vault, perm: 0o666, words: []string{"others can write it", "chmod go-w"}},
		{name: "ProxyJump loop", config: vault + "    ProxyJump a\nHost a\n    ProxyJump b\nHost b\n    ProxyJump a\n", words: []string{"more than 8 jump hosts", "loop"}},
		{name: "unknown token", config: "Host vault\n    HostName %q\n" + vault, words: []string{"HostName", "%q"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known := tc.known
			if known == "" {
				known = knownLine(srv, "")
			}
			home := sshHome(t, map[string]string{"vault_key": srv.KeyFile, "known_hosts": known})
			cfgFile := filepath.Join(home, ".ssh", "config")
			perm := tc.perm
			if perm == 0 {
				perm = 0o600
			}
			if err := os.WriteFile(cfgFile, []byte(tc.config), perm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cfgFile, perm); err != nil {
				t.Fatal(err)
			}
			var log dialLog
			dir := filepath.Join(srv.Dir, "refused")
			tgt, err := target.DialSFTP(t.Context(), target.SFTPConfig{Addr: "vault", User: tc.user, Path: dir, Home: home, Dial: log.dial})
			if err == nil {
				tgt.Close()
				t.Fatal("DialSFTP succeeded")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("err = %v, want %v", err, tc.sentinel)
			}
			msg := err.Error()
			for _, w := range tc.words {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
			// A configuration refused: typed, naming the file, nothing dialled.
			var ce *target.SSHConfigError
			if isConfig := tc.sentinel == nil && !tc.dials; isConfig != errors.As(err, &ce) {
				t.Errorf("err = %v: *SSHConfigError %v, want %v", err, !isConfig, isConfig)
			} else if isConfig && (ce.File != cfgFile || !strings.Contains(msg, cfgFile)) {
				t.Errorf("SSHConfigError.File = %q, message %q; want both to name %s", ce.File, msg, cfgFile)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			if n := len(log.addrs()); (n > 0) != tc.dials {
				t.Errorf("dialled %v; want dialled: %v", log.addrs(), tc.dials)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("target directory created: %v", err)
			}
		})
	}
	t.Run("explicit config file missing", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "config")
		_, err := target.DialSFTP(t.Context(), target.SFTPConfig{Addr: "vault", Path: "/x", Home: t.TempDir(), SSHConfigFile: missing})
		var ce *target.SSHConfigError
		if !errors.As(err, &ce) || ce.File != missing || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Fatalf("err = %v, want an *SSHConfigError naming %s", err, missing)
		}
	})
	t.Run("no config read", func(t *testing.T) {
		home := sshHome(t, map[string]string{"known_hosts": knownLine(srv, ""), "vault_key": srv.KeyFile})
		os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(vault), 0o600)
		var log dialLog
		_, err := target.DialSFTP(t.Context(), target.SFTPConfig{Addr: "vault", Path: "/x", Home: home, KeyFile: srv.KeyFile, SSHConfigFile: target.NoSSHConfig, Dial: log.dial})
		if err == nil || !contains(log.addrs(), "vault:22") {
			t.Fatalf("err = %v, dialled %v; want vault:22 dialled as written", err, log.addrs())
		}
	})
}

// TestProxyJump: a target reached through a jump host, two real sshd on
// loopback. The only TCP connection the client may make is to the jump
// host (any other dial is refused), and the server at the end of the
// channel must present the target's host key: the jump really happened.
// The jump host has its own port, key and known_hosts line from the
// config.
func TestProxyJump(t *testing.T) {
	jump := sshdtest.StartWith(t, sshdtest.Options{AllowTCPForwarding: true})
	srv := sshdtest.Start(t)
	config := `
Host jump
    HostName 127.0.0.1
    Port ` + jump.PortString() + `
    IdentityFile ~/.ssh/jump_key
Host vault
    HostName 127.0.0.1
    Port ` + srv.PortString() + `
    IdentityFile ~/.ssh/vault_key
    ProxyJump jump
Host vault2
    HostName 127.0.0.1
    Port ` + srv.PortString() + `
    IdentityFile ~/.ssh/vault_key
    ProxyJump ssh://` + jump.User + `@jump:` + jump.PortString() + `
`
	for _, tc := range []struct {
		name, alias string
		known       string
		want        error
		words       []string
	}{
		{name: "alias", alias: "vault", known: knownLine(jump, "") + knownLine(srv, "")},
		{name: "ssh URI", alias: "vault2", known: knownLine(jump, "") + knownLine(srv, "")},
		{name: "jump host unknown", alias: "vault", known: knownLine(srv, ""), want: target.ErrUnknownHost,
			words: []string{"jump host jump", "ssh-keyscan -p " + jump.PortString() + " 127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := sshHome(t, map[string]string{"jump_key": jump.KeyFile, "vault_key": srv.KeyFile, "known_hosts": tc.known})
			if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			log := dialLog{allow: []string{jump.Addr}}
			dir := filepath.Join(srv.Dir, tc.name)
			tgt, err := target.DialSFTP(t.Context(), target.SFTPConfig{Addr: tc.alias, Path: dir, Home: home, Dial: log.dial, KeepAlive: -1})
			if got := log.addrs(); len(got) != 1 || got[0] != jump.Addr {
				t.Errorf("dialled %v, want only the jump host %s", got, jump.Addr)
			}
			if tc.want != nil {
				if err == nil {
					tgt.Close()
					t.Fatal("DialSFTP succeeded")
				}
				if !errors.Is(err, tc.want) {
					t.Errorf("err = %v, want %v", err, tc.want)
				}
				for _, w := range tc.words {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message lacks %q: %s", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			if _, err := target.WriteFileFrom(tgt.FS(), filepath.Join(dir, "through-the-jump"), strings.NewReader("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if !fileExists(filepath.Join(dir, "through-the-jump")) {
				t.Error("the file written is not on the target")
			}
		})
	}
}

// The key the end of the jump presented is checked as the target's:
// with the jump host's key listed for the target's address, the dial is
// a mismatch, so a client that stopped at the jump host would fail.
func TestProxyJumpChecksTargetKey(t *testing.T) {
	jump := sshdtest.StartWith(t, sshdtest.Options{AllowTCPForwarding: true})
	srv := sshdtest.Start(t)
	config := "Host vault\n    HostName 127.0.0.1\n    Port " + srv.PortString() + "\n    IdentityFile ~/.ssh/vault_key\n    ProxyJump " + jump.User + "@127.0.0.1:" + jump.PortString() + "\n" +
		"Host 127.0.0.1\n    IdentityFile ~/.ssh/jump_key\n"
	wrongTarget := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, jump.HostKey) + "\n"
	home := sshHome(t, map[string]string{"jump_key": jump.KeyFile, "vault_key": srv.KeyFile, "known_hosts": knownLine(jump, "") + wrongTarget})
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := target.DialSFTP(t.Context(), target.SFTPConfig{Addr: "vault", Path: srv.Dir, Home: home})
	var he *target.HostKeyError
	if !errors.As(err, &he) || !errors.Is(err, target.ErrHostKeyMismatch) || he.Addr != srv.Addr || !strings.Contains(err.Error(), ssh.FingerprintSHA256(srv.HostKey)) {
		t.Fatalf("err = %v; want a mismatch for %s offering the target's key", err, srv.Addr)
	}
}

// Open takes a URL without a port as ssh takes a host without one: the
// config's Port applies (a port written in the URL would win), and the
// URL is printed as written.
func TestOpenSSHConfigAlias(t *testing.T) {
	srv := sshdtest.Start(t)
	home := sshHome(t, map[string]string{"vault_key": srv.KeyFile, "known_hosts": knownLine(srv, "")})
	config := "Host vault\n    HostName 127.0.0.1\n    Port " + srv.PortString() + "\n    IdentityFile ~/.ssh/vault_key\n"
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	raw := "sftp://vault" + srv.Dir
	tgt, err := target.Open(t.Context(), raw, target.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	if tgt.URL() != raw {
		t.Errorf("URL() = %q, want %q", tgt.URL(), raw)
	}
}
