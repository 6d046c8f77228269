package sshsig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// maxAllowedSigners bounds an allowed_signers file read by ReadAllowedSigners.
const maxAllowedSigners = 4 << 20

// AllowedSigners is an OpenSSH allowed_signers file (ssh-keygen(1),
// "ALLOWED SIGNERS"): one key per line, with the principals it signs as
// and, optionally, the namespaces it may sign for.
type AllowedSigners struct {
	entries []allowedSigner
}

type allowedSigner struct {
	principals []string
	namespaces []string // empty: any
	key        ssh.PublicKey
	line       int
}

// ReadAllowedSigners reads and parses an allowed_signers file.
func ReadAllowedSigners(path string) (*AllowedSigners, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("allowed signers file: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxAllowedSigners+1)); err != nil {
		return nil, fmt.Errorf("allowed signers file %s: %w", path, err)
	}
	if buf.Len() > maxAllowedSigners {
		return nil, fmt.Errorf("allowed signers file %s is larger than %d bytes: not an allowed_signers file", path, maxAllowedSigners)
	}
	a, err := ParseAllowedSigners(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("allowed signers file %s: %w", path, err)
	}
	return a, nil
}

// ParseAllowedSigners parses the lines of an allowed_signers file:
//
//	PRINCIPALS [OPTIONS] KEYTYPE BASE64-KEY [COMMENT]
//
// PRINCIPALS is a comma-separated list (patterns are taken literally);
// the only option understood is namespaces="a,b". Lines with options this
// package does not implement (cert-authority, valid-after, valid-before)
// are refused rather than read more loosely than ssh-keygen would.
func ParseAllowedSigners(data []byte) (*AllowedSigners, error) {
	a := &AllowedSigners{}
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		e.line = i + 1
		a.entries = append(a.entries, e)
	}
	if len(a.entries) == 0 {
		return nil, errors.New("no signer lines (expected: IDENTITY namespaces=\"atocore-backup\" ssh-ed25519 AAAA...)")
	}
	return a, nil
}

func parseSignerLine(line string) (allowedSigner, error) {
	var e allowedSigner
	principals, rest, err := nextField(line)
	if err != nil {
		return e, err
	}
	e.principals = strings.Split(principals, ",")
	if slices.Contains(e.principals, "") {
		return e, fmt.Errorf("empty principal in %q", principals)
	}
	if !isKeyType(firstWord(rest)) {
		var opts string
		if opts, rest, err = nextField(rest); err != nil {
			return e, err
		}
		if err := e.applyOptions(opts); err != nil {
			return e, err
		}
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return e, fmt.Errorf("the key: %w", err)
	}
	e.key = key
	return e, nil
}

func (e *allowedSigner) applyOptions(opts string) error {
	for _, opt := range splitOptions(opts) {
		name, value, hasValue := strings.Cut(opt, "=")
		switch strings.ToLower(name) {
		case "namespaces":
			if !hasValue {
				return errors.New("namespaces needs a value: namespaces=\"atocore-backup\"")
			}
			e.namespaces = strings.Split(strings.Trim(value, `"`), ",")
		case "cert-authority", "valid-after", "valid-before":
			return fmt.Errorf("option %s is not supported here: list the signing key itself, without it", name)
		default:
			return fmt.Errorf("unknown option %q", name)
		}
	}
	return nil
}

// nextField returns the first whitespace-separated field of s (double
// quotes group, as in OpenSSH) and the rest.
func nextField(s string) (string, string, error) {
	s = strings.TrimLeft(s, " \t")
	quoted := false
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case (r == ' ' || r == '\t') && !quoted:
			return strings.Trim(s[:i], `"`), strings.TrimLeft(s[i:], " \t"), nil
		}
	}
	if quoted {
		return "", "", fmt.Errorf("unterminated quote in %q", s)
	}
	return "", "", fmt.Errorf("%q lacks a key", s)
}

// splitOptions splits a,b="x,y",c at the commas outside quotes.
func splitOptions(s string) []string {
	var out []string
	quoted, start := false, 0
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	return w
}

func isKeyType(w string) bool {
	return strings.HasPrefix(w, "ssh-") || strings.HasPrefix(w, "ecdsa-sha2-") || strings.HasPrefix(w, "sk-")
}

// Verify checks that armored is a valid signature of message for namespace
// by a key of a, allowed to sign for namespace, and returns the principals
// of its line (comma-separated). It wraps ErrBadSignature on every
// failure, and says which.
func (a *AllowedSigners) Verify(armored []byte, namespace string, message []byte) (string, error) {
	sig, err := Parse(armored)
	if err != nil {
		return "", err
	}
	want := sig.PublicKey.Marshal()
	known := false
	for _, e := range a.entries {
		if !bytes.Equal(e.key.Marshal(), want) {
			continue
		}
		known = true
		if len(e.namespaces) > 0 && !slices.Contains(e.namespaces, namespace) {
			continue
		}
		if err := sig.Verify(namespace, message); err != nil {
			return "", err
		}
		return strings.Join(e.principals, ","), nil
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	if known {
		return "", fmt.Errorf("%w: key %s is not allowed to sign for namespace %q", ErrBadSignature, fp, namespace)
	}
	return "", fmt.Errorf("%w: made by key %s, which is not in the allowed signers", ErrBadSignature, fp)
}

// Keys returns the public keys of a, in file order.
func (a *AllowedSigners) Keys() []ssh.PublicKey {
	out := make([]ssh.PublicKey, 0, len(a.entries))
	for _, e := range a.entries {
		out = append(out, e.key)
	}
	return out
}

// Line returns an allowed_signers line for key, as principal, for
// namespace: what an operator adds to the file of a restoring machine.
func Line(principal, namespace string, key ssh.PublicKey) string {
	return fmt.Sprintf("%s namespaces=%q %s", principal, namespace, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))))
}

// Trusting returns the allowed signers of one key, for any namespace:
// what a pusher uses to recognise its own statements.
func Trusting(principal string, key ssh.PublicKey) *AllowedSigners {
	return &AllowedSigners{entries: []allowedSigner{{principals: []string{principal}, key: key}}}
}

// Plus returns the signers of a and of b (either may be nil): a's lines
// first.
func (a *AllowedSigners) Plus(b *AllowedSigners) *AllowedSigners {
	out := &AllowedSigners{}
	for _, s := range []*AllowedSigners{a, b} {
		if s != nil {
			out.entries = append(out.entries, s.entries...)
		}
	}
	return out
}

// Admits checks, before anything it signs is read, that the key armored
// (a signature) claims to be made by is in a and allowed to sign for
// namespace. It does not verify the signature: Verify does. It wraps
// ErrBadSignature.
func (a *AllowedSigners) Admits(armored []byte, namespace string) error {
	sig, err := Parse(armored)
	if err != nil {
		return err
	}
	want := sig.PublicKey.Marshal()
	known := false
	for _, e := range a.entries {
		if !bytes.Equal(e.key.Marshal(), want) {
			continue
		}
		known = true
		if len(e.namespaces) == 0 || slices.Contains(e.namespaces, namespace) {
			return nil
		}
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	if known {
		return fmt.Errorf("%w: key %s is not allowed to sign for namespace %q", ErrBadSignature, fp, namespace)
	}
	return fmt.Errorf("%w: made by key %s, which is not in the allowed signers", ErrBadSignature, fp)
}
