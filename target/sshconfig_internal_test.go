package target

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// resolve follows ssh's precedence: an explicit user or port first, then
// the first value of each keyword among the blocks that match the name as
// written (Host * included, wherever it stands; Match host against the
// HostName found before it), then the defaults.
func TestSSHConfigResolve(t *testing.T) {
	home := t.TempDir()
	included := filepath.Join(home, "included.conf")
	if err := os.WriteFile(included, []byte("Host inc\n    HostName from-include\n    Port 2203\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := `
Host early
    User early-user
Host *.example !skip.example
    Port 2201
Host web?
    HostName %h.internal
Host vault
    HostName vault.example
    User vault-user
    Port 2202
    IdentityFile ~/.ssh/vault
    IdentityFile %d/keys/%r@%h:%p-%u
    HostKeyAlias vault-key
    ProxyJump jumper,ops@[::1]:2222
Host early
    User late-user
Match host vault
    UserKnownHostsFile /never
Match host vault.example
    IdentityFile ~/.ssh/matched
    ProxyCommand none
Host * 
    User star-user
    Port 2299
    ProxyJump none
Include ` + included + `
`
	file := filepath.Join(home, "config")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadSSHConfig(file, home)
	if err != nil {
		t.Fatal(err)
	}
	me := localUser()
	for _, tc := range []struct {
		alias, user string
		port        int
		want        sshHost
	}{
		{alias: "vault", want: sshHost{hostName: "vault.example", port: 2202, user: "vault-user", hostKeyAlias: "vault-key",
			identities: []string{home + "/.ssh/vault", home + "/keys/vault-user@vault.example:2202-" + me, home + "/.ssh/matched"},
			jumps:      []jumpSpec{{host: "jumper"}, {user: "ops", host: "::1", port: 2222}}}},
		{alias: "Vault", user: "explicit", port: 22, want: sshHost{hostName: "vault.example", port: 22, user: "explicit", hostKeyAlias: "vault-key",
			identities: []string{home + "/.ssh/vault", home + "/keys/explicit@vault.example:22-" + me, home + "/.ssh/matched"},
			jumps:      []jumpSpec{{host: "jumper"}, {user: "ops", host: "::1", port: 2222}}}},
		{alias: "early", want: sshHost{hostName: "early", port: 2299, user: "early-user"}},
		{alias: "a.example", want: sshHost{hostName: "a.example", port: 2201, user: "star-user"}},
		{alias: "skip.example", want: sshHost{hostName: "skip.example", port: 2299, user: "star-user"}},
		{alias: "web1", want: sshHost{hostName: "web1.internal", port: 2299, user: "star-user"}},
		{alias: "web", want: sshHost{hostName: "web", port: 2299, user: "star-user"}}, // '?' is exactly one character
		{alias: "inc", want: sshHost{hostName: "from-include", port: 2299, user: "star-user"}},
	} {
		t.Run(tc.alias, func(t *testing.T) {
			got, err := c.resolve(tc.alias, tc.user, tc.port)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.alias = tc.alias
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("resolve(%q, %q, %d) =\n %+v\nwant\n %+v", tc.alias, tc.user, tc.port, *got, tc.want)
			}
		})
	}
	none, err := loadSSHConfig(NoSSHConfig, home)
	if err != nil {
		t.Fatal(err)
	}
	got, err := none.resolve("vault", "", 0)
	if err != nil || got.hostName != "vault" || got.port != 22 || got.user != me || got.identities != nil {
		t.Errorf("no config: %+v, %v; want vault:22 as %s", got, err, me)
	}
}

// A ProxyJump list is hops separated by commas, each [user@]host[:port]
// or an ssh:// URI; anything else is refused with what is wrong.
func TestParseJumps(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []jumpSpec
		err  string
	}{
		{in: "bastion", want: []jumpSpec{{host: "bastion"}}},
		{in: "ops@bastion:2222, ssh://me@[fe80::1]:22", want: []jumpSpec{{user: "ops", host: "bastion", port: 2222}, {user: "me", host: "fe80::1", port: 22}}},
		{in: "bastion:0", err: "bad port"},
		{in: "@bastion", err: "empty user"},
		{in: "bad host", err: "invalid host name"},
		{in: strings.Repeat("h,", maxJumps) + "h", err: "more than"},
	} {
		got, err := parseJumps(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseJumps(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseJumps(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
