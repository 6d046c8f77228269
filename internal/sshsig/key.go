package sshsig

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/ssh"
)

// maxKeyFile bounds a private key file: an OpenSSH Ed25519 key is about
// 400 bytes, an RSA-16384 one about 13 KiB.
const maxKeyFile = 1 << 20

// ReadSigner reads an unencrypted OpenSSH private key file (ssh-keygen
// -t ed25519 writes one) and returns its signer. The key must be
// Ed25519: that is what Sign takes.
func ReadSigner(path string) (ssh.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("signing key %s is larger than %d bytes: not an OpenSSH private key", path, maxKeyFile)
	}
	s, err := ssh.ParsePrivateKey(data)
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		return nil, fmt.Errorf("signing key %s is protected by a passphrase: the backup signs unattended; use a key without one, readable only by the backup user", path)
	case err != nil:
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if t := s.PublicKey().Type(); t != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("signing key %s is %s; snapshots are signed with Ed25519 keys (ssh-keygen -t ed25519)", path, t)
	}
	return s, nil
}
