package target

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrUnknownHost is matched (errors.Is) by a *HostKeyError for a server
// that the known_hosts file does not list.
var ErrUnknownHost = errors.New("host not in known_hosts")

// ErrHostKeyMismatch is matched (errors.Is) by a *HostKeyError for a server
// whose key differs from the one(s) the known_hosts file lists for it, or
// whose key is marked @revoked.
var ErrHostKeyMismatch = errors.New("host key mismatch")

// HostKeyError is a server whose host key could not be verified. The
// connection is dropped during the key exchange: nothing is sent to such a
// server, no authentication is attempted.
type HostKeyError struct {
	Addr           string // host:port as dialled (after the ssh config's HostName and Port)
	KnownHostsFile string // the file that was consulted
	// HostKeyAlias, when the ssh config sets one, is the name known_hosts
	// was consulted for instead of Addr (alone, without a port, as OpenSSH
	// does).
	HostKeyAlias string
	Offered      ssh.PublicKey // the key the server presented
	// Known are the keys known_hosts lists for the host; empty when the
	// host is unknown.
	Known   []knownhosts.KnownKey
	Revoked bool // Offered (or, for a certificate, its CA) is marked @revoked
	// Authorities are the @cert-authority keys known_hosts lists for the
	// host; Cert is the host certificate the server offered, if any, and
	// CertProblem why it was refused.
	Authorities []ssh.PublicKey
	Cert        *ssh.Certificate
	CertProblem string
	// WeakCASignature: Cert is signed by its RSA CA with ssh-rsa (SHA-1),
	// which OpenSSH refuses by default since 8.2 (CASignatureAlgorithms).
	WeakCASignature bool
}

// Is matches ErrUnknownHost or ErrHostKeyMismatch.
func (e *HostKeyError) Is(target error) bool {
	known := e.Revoked || len(e.Known) > 0 || len(e.Authorities) > 0
	if target == ErrUnknownHost {
		return !known
	}
	return target == ErrHostKeyMismatch && known
}

// Error is one line that names the host, the known_hosts file, the
// fingerprints involved and the command that fixes it.
func (e *HostKeyError) Error() string {
	offered := "no key"
	if e.Cert != nil {
		offered = fmt.Sprintf("a %s host certificate signed by CA %s %s", e.Cert.Key.Type(), e.Cert.SignatureKey.Type(), ssh.FingerprintSHA256(e.Cert.SignatureKey))
	} else if e.Offered != nil {
		offered = e.Offered.Type() + " " + ssh.FingerprintSHA256(e.Offered)
	}
	keyscan := keyscanCommand(e.Addr, e.HostKeyAlias, e.KnownHostsFile)
	switch {
	case e.WeakCASignature:
		return fmt.Sprintf("sftp %s: host key refused: the server offered %s whose CA signature is ssh-rsa (RSA with SHA-1), "+
			"which OpenSSH refuses since 8.2 (SHA-1 signatures can be forged); on the server, re-sign the host certificate "+
			"with ssh-keygen -s CA -t rsa-sha2-512 -h -n %s (or rsa-sha2-256), or use an ed25519 CA and put it in an @cert-authority line of %s",
			e.Addr, offered, e.hostname(), e.KnownHostsFile)
	case e.Revoked:
		return fmt.Sprintf("sftp %s: the server's host key (%s) is marked @revoked in %s; refusing to connect",
			e.Addr, offered, e.KnownHostsFile)
	case len(e.Authorities) > 0 || e.Cert != nil:
		var cas []string
		for _, k := range e.Authorities {
			cas = append(cas, k.Type()+" "+ssh.FingerprintSHA256(k))
		}
		why := e.CertProblem
		if why == "" {
			why = "it is not a certificate"
		}
		trusted := "no @cert-authority line matches " + e.lookupName()
		if len(cas) > 0 {
			trusted = "it trusts the certificate authorities " + strings.Join(cas, ", ") + " for " + e.lookupName()
		}
		return fmt.Sprintf("sftp %s: host key refused: %s; the server offered %s (%s); refusing to connect "+
			"(possible man-in-the-middle). If the host's certificate or its CA really changed, verify them with the server's administrator: "+
			"re-sign the host key (ssh-keygen -s CA -h -n %s) or put the new CA in an @cert-authority line of %s; "+
			"a plain host key is checked only when no certificate is offered (%s)",
			e.Addr, trusted, offered, why, e.hostname(), e.KnownHostsFile, keyscan)
	case len(e.Known) == 0:
		return fmt.Sprintf("sftp %s: host is not in known_hosts file %s (the server offered %s); "+
			"verify that fingerprint with the server's administrator, then add it: %s",
			e.Addr, e.KnownHostsFile, offered, keyscan)
	}
	var known []string
	for _, k := range e.Known {
		known = append(known, fmt.Sprintf("%s:%d has %s %s", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
	}
	return fmt.Sprintf("sftp %s: host key mismatch: %s, but the server offered %s; refusing to connect "+
		"(possible man-in-the-middle). If the server's key really changed, verify the new fingerprint with the server's administrator, then "+
		"replace the plain key: ssh-keygen -R '%s' -f %s && %s (a host that uses certificates needs its CA in an @cert-authority line instead)",
		e.Addr, strings.Join(known, "; "), offered, e.lookupName(), e.KnownHostsFile, keyscan)
}

// keyscanCommand is the command that appends the host keys of the server
// at addr to file, under alias when there is one.
func keyscanCommand(addr, alias, file string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "22"
	}
	c := "ssh-keyscan "
	if port != "22" {
		c += "-p " + port + " "
	}
	c += host
	if alias != "" {
		c += " | sed 's/^[^ ]*/" + alias + "/'"
	}
	return c + " >> " + file
}

// lookupName is the name known_hosts was consulted for: the HostKeyAlias,
// else "host" on port 22 and "[host]:port" otherwise.
func (e *HostKeyError) lookupName() string {
	if e.HostKeyAlias != "" {
		return e.HostKeyAlias
	}
	return knownhosts.Normalize(e.Addr)
}

// hostname is the name a host certificate must have as a principal.
func (e *HostKeyError) hostname() string {
	if e.HostKeyAlias != "" {
		return e.HostKeyAlias
	}
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return e.Addr
	}
	return host
}

// hostKeyChecker verifies a server's key against one known_hosts file.
type hostKeyChecker struct {
	file    string
	addr    string              // host:port looked up in known_hosts
	dialled string              // host:port connected to, for messages
	alias   string              // HostKeyAlias, "" when none
	cb      ssh.HostKeyCallback // plain keys and @revoked (knownhosts)
	cas     *hostAuthorities    // @cert-authority and @revoked
}

// newHostKeyChecker checks the server dialled at dialled against file,
// looked up for addr: the same address, or alias:22 for a HostKeyAlias.
func newHostKeyChecker(file, addr, dialled, alias string) (*hostKeyChecker, error) {
	if file == "" {
		return nil, errors.New("sftp: no known_hosts file: pass --known-hosts FILE (SFTP targets always verify the server's host key; there is no way to skip it)")
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("sftp %s: known_hosts file %s (--known-hosts): %w; create it with the server's verified key, e.g. %s, then check the fingerprints with the server's administrator", dialled, file, err, keyscanCommand(dialled, alias, file))
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("sftp: read known_hosts file %s (--known-hosts): %w", file, err)
	}
	cas, err := readAuthorities(file)
	if err != nil {
		return nil, fmt.Errorf("sftp: read known_hosts file %s (--known-hosts): %w", file, err)
	}
	return &hostKeyChecker{file: file, addr: addr, dialled: dialled, alias: alias, cb: cb, cas: cas}, nil
}

// callback checks a host certificate as OpenSSH does (ssh.CertChecker: an
// @cert-authority line matching the host names its CA, the host name is
// one of its principals, it is within its validity, neither it nor its CA
// is @revoked), and a plain key against the plain lines; it turns every
// refusal into a *HostKeyError.
func (h *hostKeyChecker) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	var cas []ssh.PublicKey
	for _, c := range h.cas.authorities(h.addr) {
		cas = append(cas, c.key)
	}
	if cert, ok := key.(*ssh.Certificate); ok {
		if cert.CertType == ssh.HostCert && h.cas.isRevoked(cert) {
			return &HostKeyError{Addr: h.dialled, HostKeyAlias: h.alias, KnownHostsFile: h.file, Offered: key, Cert: cert, Revoked: true}
		}
		if cert.CertType == ssh.HostCert && len(cert.ValidPrincipals) == 0 {
			return &HostKeyError{Addr: h.dialled, HostKeyAlias: h.alias, KnownHostsFile: h.file, Offered: key, Cert: cert, Authorities: cas,
				CertProblem: "the certificate names no principals"}
		}
		if cert.Signature != nil && cert.Signature.Format == ssh.KeyAlgoRSA && h.cas.isAuthority(cert.SignatureKey, h.addr) {
			return &HostKeyError{Addr: h.dialled, HostKeyAlias: h.alias, KnownHostsFile: h.file, Offered: key, Cert: cert, Authorities: cas, WeakCASignature: true}
		}
		cc := &ssh.CertChecker{IsHostAuthority: h.cas.isAuthority, IsRevoked: h.cas.isRevoked}
		if err := cc.CheckHostKey(hostname, remote, key); err != nil {
			return &HostKeyError{Addr: h.dialled, HostKeyAlias: h.alias, KnownHostsFile: h.file, Offered: key, Cert: cert, Authorities: cas,
				CertProblem: strings.TrimPrefix(err.Error(), "ssh: ")}
		}
		return nil
	}
	err := h.cb(hostname, remote, key)
	if err == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &ke):
		return &HostKeyError{Addr: h.dialled, HostKeyAlias: h.alias, KnownHostsFile: h.file, Offered: key, Known: ke.Want, Authorities: cas}
	case errors.As(err, &re):
		return &HostKeyError{Addr: h.dialled, HostKeyAlias: h.alias, KnownHostsFile: h.file, Offered: key, Revoked: true}
	}
	return fmt.Errorf("sftp %s: check host key against %s: %w", h.dialled, h.file, err)
}

// algorithms are the host key algorithms to offer for the key types that
// known_hosts lists for the address, or nil (library default) for an
// unknown host. Without this, a server with several host keys may pick one
// that known_hosts lacks (ecdsa when only ed25519 is listed) and the
// connection fails with a spurious "key mismatch".
//
// When an @cert-authority line covers the host, host certificates are
// asked for first, as OpenSSH does.
func (h *hostKeyChecker) algorithms() []string {
	var algos []string
	if len(h.cas.authorities(h.addr)) > 0 {
		algos = append(algos, certAlgorithms...)
	}
	err := h.cb(h.addr, probeAddr, probeKey())
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return algos // nil: an unknown host gets the library's default
	}
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// probeAddr and probeKey ask known_hosts which keys it lists for a host:
// a key that matches nothing yields a KeyError carrying all of them.
// knownhosts looks at the remote address only when it has no host name, so
// probeAddr is never consulted (and never dialled).
var probeAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}

var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})
