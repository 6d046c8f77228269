package sshsig

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

const (
	magic      = "SSHSIG"
	version    = 1
	hashSHA512 = "sha512"
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	// armorWidth is the line width of ssh-keygen's armor.
	armorWidth = 70
	// maxArmored bounds what Parse reads: an Ed25519 signature is about
	// 300 bytes armored, an RSA-16384 one a few KiB.
	maxArmored = 64 << 10
)

// ErrBadSignature is matched by errors.Is when a signature does not verify,
// is malformed, or is for another namespace.
var ErrBadSignature = errors.New("bad SSH signature")

// Signature is a parsed SSHSIG signature.
type Signature struct {
	// PublicKey is the key the signature claims to be made by.
	PublicKey ssh.PublicKey
	// Namespace is the purpose the signer signed for.
	Namespace string
	// HashAlgorithm is "sha512" or "sha256".
	HashAlgorithm string
	// Signature is the SSH signature over the signed data.
	Signature *ssh.Signature
}

// wire is the binary SSHSIG blob after the magic.
type wire struct {
	Version       uint32
	PublicKey     []byte
	Namespace     string
	Reserved      string
	HashAlgorithm string
	Signature     []byte
}

// signedData is what the key signs: the magic, then these fields.
type signedData struct {
	Namespace     string
	Reserved      string
	HashAlgorithm string
	Hash          []byte
}

func toSign(namespace, hashAlg string, message []byte) ([]byte, error) {
	var h []byte
	switch hashAlg {
	case hashSHA512:
		s := sha512.Sum512(message)
		h = s[:]
	case "sha256":
		s := sha256.Sum256(message)
		h = s[:]
	default:
		return nil, fmt.Errorf("%w: unknown hash algorithm %q", ErrBadSignature, hashAlg)
	}
	return append([]byte(magic), ssh.Marshal(signedData{Namespace: namespace, HashAlgorithm: hashAlg, Hash: h})...), nil
}

// Sign signs message for namespace with an Ed25519 signer and returns the
// armored signature, as `ssh-keygen -Y sign` writes it.
func Sign(signer ssh.Signer, namespace string, message []byte) ([]byte, error) {
	if namespace == "" {
		return nil, errors.New("sshsig: sign: the namespace must not be empty")
	}
	if t := signer.PublicKey().Type(); t != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("sshsig: sign: the key is %s; signatures are made with Ed25519 keys (ssh-keygen -t ed25519)", t)
	}
	data, err := toSign(namespace, hashSHA512, message)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(rand.Reader, data)
	if err != nil {
		return nil, fmt.Errorf("sshsig: sign: %w", err)
	}
	blob := append([]byte(magic), ssh.Marshal(wire{
		Version:       version,
		PublicKey:     signer.PublicKey().Marshal(),
		Namespace:     namespace,
		HashAlgorithm: hashSHA512,
		Signature:     ssh.Marshal(sig),
	})...)
	return armor(blob), nil
}

func armor(blob []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(blob)
	var b bytes.Buffer
	b.WriteString(armorBegin + "\n")
	for len(enc) > armorWidth {
		b.WriteString(enc[:armorWidth] + "\n")
		enc = enc[armorWidth:]
	}
	b.WriteString(enc + "\n" + armorEnd + "\n")
	return b.Bytes()
}

// Parse reads an armored signature (the content of a .sig file).
func Parse(armored []byte) (*Signature, error) {
	if len(armored) > maxArmored {
		return nil, fmt.Errorf("%w: %d bytes, more than any SSH signature", ErrBadSignature, len(armored))
	}
	text := strings.TrimSpace(strings.ReplaceAll(string(armored), "\r\n", "\n"))
	body, ok := strings.CutPrefix(text, armorBegin)
	if !ok {
		return nil, fmt.Errorf("%w: no %q line", ErrBadSignature, armorBegin)
	}
	body, ok = strings.CutSuffix(body, armorEnd)
	if !ok {
		return nil, fmt.Errorf("%w: no %q line", ErrBadSignature, armorEnd)
	}
	blob, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("%w: armor: %v", ErrBadSignature, err)
	}
	rest, ok := bytes.CutPrefix(blob, []byte(magic))
	if !ok {
		return nil, fmt.Errorf("%w: no SSHSIG magic", ErrBadSignature)
	}
	var w wire
	if err := ssh.Unmarshal(rest, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if w.Version != version {
		return nil, fmt.Errorf("%w: version %d, only %d is known", ErrBadSignature, w.Version, version)
	}
	pub, err := ssh.ParsePublicKey(w.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrBadSignature, err)
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(w.Signature, sig); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadSignature, err)
	}
	return &Signature{PublicKey: pub, Namespace: w.Namespace, HashAlgorithm: w.HashAlgorithm, Signature: sig}, nil
}

// Verify checks that s signs message for namespace with s.PublicKey. It
// says nothing about whether that key is trusted: AllowedSigners.Verify
// does both.
func (s *Signature) Verify(namespace string, message []byte) error {
	if s.Namespace != namespace {
		return fmt.Errorf("%w: made for namespace %q, not %q", ErrBadSignature, s.Namespace, namespace)
	}
	if s.Signature.Format == ssh.KeyAlgoRSA {
		return fmt.Errorf("%w: RSA with SHA-1 is not accepted (SSHSIG requires rsa-sha2-256 or -512)", ErrBadSignature)
	}
	data, err := toSign(namespace, s.HashAlgorithm, message)
	if err != nil {
		return err
	}
	if err := s.PublicKey.Verify(data, s.Signature); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return nil
}
