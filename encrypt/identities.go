package encrypt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"
)

// Identities decrypts files with private keys: age X25519 identities
// ("AGE-SECRET-KEY-1...") or one unencrypted OpenSSH private key. It is what
// a restore needs on a machine that holds the identity and nothing else.
//
// Identities is safe for concurrent use.
type Identities struct {
	ids     []age.Identity
	noMatch string // the wrong-identity message, before the stanza hint
}

var _ Decryptor = (*Identities)(nil)

// IdentitiesFromFile reads an identity file in the format of the age CLI's -i
// flag: lines of "AGE-SECRET-KEY-1..." (as written by age-keygen; blank lines
// and "#" comments ignored), or an unencrypted OpenSSH private key
// (ssh-ed25519 or ssh-rsa). The same file works with `age -d -i path`.
//
// A passphrase-protected SSH key is refused with the command that makes an
// unencrypted copy, since a backup restore cannot prompt. A passphrase-
// protected age identity file (such as a snapshot's key file) is refused with
// a pointer to [PassphraseDecryptor]. Errors never echo key material.
func IdentitiesFromFile(path string) (*Identities, error) {
	data, err := readSmallFile(path)
	if err != nil {
		return nil, fmt.Errorf("encrypt: read identity file: %w", err)
	}
	ids, err := parseIdentities(path, data)
	if err != nil {
		return nil, err
	}
	return &Identities{
		ids:     ids,
		noMatch: fmt.Sprintf("no identity in %s can decrypt this file; use the identity matching the recipients the snapshot was pushed with", path),
	}, nil
}

// Decrypt implements [Decryptor].
func (is *Identities) Decrypt(src io.Reader) (io.Reader, error) {
	r, err := openAge(src, is.ids, func(nm *age.NoIdentityMatchError) error {
		return &wrongIdentityError{msg: is.noMatch + stanzaHint(nm), err: nm}
	})
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return r, nil
}

func parseIdentities(path string, data []byte) ([]age.Identity, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("age-encryption.org/")), bytes.HasPrefix(trimmed, []byte(armor.Header)):
		return nil, fmt.Errorf("encrypt: %s is a passphrase-protected age file, not a plain identity file; if it is a snapshot's key file, use it with its passphrase (PassphraseDecryptor), or decrypt it first with `age -d %s > key.txt`", path, path)
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN")):
		id, err := parseSSHIdentity(path, data)
		if err != nil {
			return nil, err
		}
		return []age.Identity{id}, nil
	}

	var ids []age.Identity
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := parseIdentityLine(line)
		if err != nil {
			return nil, fmt.Errorf("encrypt: %s:%d: %v", path, i+1, err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("encrypt: %s: no identities found; expected AGE-SECRET-KEY-1... lines (from age-keygen) or an OpenSSH private key", path)
	}
	return ids, nil
}

// parseIdentityLine parses one line of an age identity file. Its errors do
// not echo the line: it is probably secret.
func parseIdentityLine(line string) (age.Identity, error) {
	switch {
	case strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("malformed age secret key; copy the whole AGE-SECRET-KEY-1... line written by age-keygen")
		}
		return id, nil
	case strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1"):
		// Post-quantum identities are refused as recipients (old age
		// cannot decrypt them), but decrypting with one does no harm.
		id, err := age.ParseHybridIdentity(line)
		if err != nil {
			return nil, fmt.Errorf("malformed age post-quantum secret key; copy the whole line written by age-keygen -pq")
		}
		return id, nil
	case strings.HasPrefix(line, "AGE-PLUGIN-"):
		return nil, fmt.Errorf("age plugin identities are not supported; use an AGE-SECRET-KEY-1... identity or an OpenSSH private key")
	case strings.HasPrefix(line, "age1"), strings.HasPrefix(line, "ssh-"):
		return nil, fmt.Errorf("this is a public key (a recipient), not an identity; give the private key instead: the age-keygen output file, or the SSH key file without .pub")
	}
	return nil, fmt.Errorf("unrecognized identity line (not shown, it may be secret); expected AGE-SECRET-KEY-1... lines (from age-keygen) or an OpenSSH private key file")
}

func parseSSHIdentity(path string, pemBytes []byte) (age.Identity, error) {
	key, err := ssh.ParseRawPrivateKey(pemBytes)
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		return nil, fmt.Errorf("encrypt: %s: the SSH private key is protected by a passphrase, which an unattended restore cannot ask for; make an unencrypted copy kept offline (cp %s key.plain && ssh-keygen -p -N '' -f key.plain) and use that, or use an age identity (age-keygen)", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("encrypt: %s: malformed SSH private key (%v); give an OpenSSH private key file (ssh-ed25519 or ssh-rsa)", path, err)
	}
	switch k := key.(type) {
	case *ed25519.PrivateKey:
		return agessh.NewEd25519Identity(*k)
	case ed25519.PrivateKey:
		return agessh.NewEd25519Identity(k)
	case *rsa.PrivateKey:
		return agessh.NewRSAIdentity(k)
	}
	keyType := fmt.Sprintf("%T", key)
	if s, err := ssh.NewSignerFromKey(key); err == nil {
		keyType = s.PublicKey().Type()
	}
	return nil, fmt.Errorf("encrypt: %s: SSH key type %s is not supported by age; use an ssh-ed25519 or ssh-rsa key, or an age identity (age-keygen)", path, keyType)
}

// GenerateX25519 returns a new age X25519 identity ("AGE-SECRET-KEY-1...")
// and its recipient ("age1..."). Operators usually run `age-keygen -o
// key.txt` instead, which writes the same identity format and prints the
// recipient; this function serves tests and tools that provision keys.
//
// Keep the identity off the machine that pushes backups: pushing needs only
// the recipient.
func GenerateX25519() (identity, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", fmt.Errorf("encrypt: generate X25519 identity: %w", err)
	}
	return id.String(), id.Recipient().String(), nil
}
