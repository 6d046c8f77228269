package target

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// hostAuthorities are the @cert-authority and @revoked lines of a
// known_hosts file, matched as OpenSSH matches them.
type hostAuthorities struct {
	cas     []caLine
	revoked map[string]bool // key blobs
}

type caLine struct {
	patterns []string
	key      ssh.PublicKey
	file     string
	line     int
}

// readAuthorities parses the marker lines of file; other lines are left to
// knownhosts.
func readAuthorities(file string) (*hostAuthorities, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	a := &hostAuthorities{revoked: map[string]bool{}}
	for n, line := range bytes.Split(data, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if !bytes.HasPrefix(t, []byte("@")) {
			continue
		}
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts(t)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n+1, err)
		}
		switch marker {
		case "cert-authority":
			a.cas = append(a.cas, caLine{patterns: hosts, key: key, file: file, line: n + 1})
		case "revoked":
			a.revoked[string(key.Marshal())] = true
		}
	}
	return a, nil
}

// knownHostName is the name OpenSSH looks up in known_hosts for host:port:
// "host" on port 22, else "[host]:port".
func knownHostName(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if port == "22" {
		return host
	}
	return "[" + host + "]:" + port
}

// authorities are the CA keys whose lines match addr.
func (a *hostAuthorities) authorities(addr string) []caLine {
	name := knownHostName(addr)
	var out []caLine
	for _, c := range a.cas {
		if matchHostPatterns(c.patterns, name) {
			out = append(out, c)
		}
	}
	return out
}

// isAuthority is ssh.CertChecker's IsHostAuthority.
func (a *hostAuthorities) isAuthority(key ssh.PublicKey, addr string) bool {
	for _, c := range a.authorities(addr) {
		if bytes.Equal(c.key.Marshal(), key.Marshal()) {
			return true
		}
	}
	return false
}

// isRevoked is ssh.CertChecker's IsRevoked: the certified key or its CA
// is marked @revoked.
func (a *hostAuthorities) isRevoked(c *ssh.Certificate) bool {
	return a.revoked[string(c.Key.Marshal())] || a.revoked[string(c.SignatureKey.Marshal())]
}

// matchHostPatterns is OpenSSH's match_hostname: name matches when one
// pattern matches and no negated (!) one does; a hashed entry (|1|salt|hash)
// matches the HMAC-SHA1 of name.
func matchHostPatterns(patterns []string, name string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		var ok bool
		if strings.HasPrefix(p, "|1|") {
			ok = hashedMatch(p, name)
		} else {
			ok = wildcard(strings.ToLower(p), strings.ToLower(name))
		}
		if ok && neg {
			return false
		}
		matched = matched || ok
	}
	return matched
}

func hashedMatch(entry, name string) bool {
	parts := strings.Split(entry, "|") // "", "1", salt, hash
	if len(parts) != 4 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	want, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	m := hmac.New(sha1.New, salt)
	m.Write([]byte(name))
	return hmac.Equal(m.Sum(nil), want)
}

// wildcard matches s against p with "*" (any run) and "?" (one byte).
func wildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

// certAlgorithms are the host certificate algorithms a client asks for
// when a certificate authority covers the host, as OpenSSH does.
var certAlgorithms = []string{
	ssh.CertAlgoED25519v01,
	ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
}
