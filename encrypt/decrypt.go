package encrypt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// openAge starts decrypting src with ids. It accepts binary and armored age
// files alike, because age.Decrypt does not detect armor and an operator may
// well have re-encrypted a file by hand with `age -a`.
//
// noMatch builds the error returned when no identity opens the file; every
// other failure is classified as a source read error or as [ErrCorrupt].
// Errors from openAge itself carry no package prefix; the caller adds it.
func openAge(src io.Reader, ids []age.Identity, noMatch func(*age.NoIdentityMatchError) error) (io.Reader, error) {
	rec := &sourceReader{r: src}
	br := bufio.NewReader(rec)
	var in io.Reader = br
	if isArmored(br) {
		in = armor.NewReader(br)
	}
	r, err := age.Decrypt(in, ids...)
	if err != nil {
		if nm, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return nil, noMatch(nm)
		}
		return nil, rec.classify("read header", err)
	}
	return &plainReader{r: r, src: rec}, nil
}

// isArmored reports whether the file starts, after optional whitespace, with
// the armor header. Like the age CLI, it looks at most 1 KiB ahead.
func isArmored(br *bufio.Reader) bool {
	const maxWhitespace = 1024
	p, _ := br.Peek(maxWhitespace + len(armor.Header))
	return bytes.HasPrefix(bytes.TrimLeft(p, " \t\r\n"), []byte(armor.Header))
}

// sourceReader remembers whether the ciphertext source itself failed, so that
// a network or disk error is not reported as damaged ciphertext.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// classify wraps a decryption failure: a failing source stays a plain
// (wrapped) error; anything else means the bytes themselves are bad.
func (s *sourceReader) classify(op string, err error) error {
	if s.err != nil {
		return fmt.Errorf("%s: read ciphertext: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrCorrupt, err)
}

// plainReader is the plaintext side of a decryption. age authenticates each
// 64 KiB chunk before releasing it and requires the final-chunk flag, so a
// truncated or altered file fails here instead of yielding short data.
type plainReader struct {
	r   io.Reader
	src *sourceReader
}

func (p *plainReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		err = p.src.classify("encrypt: decrypt", err)
	}
	return n, err
}

// wrongIdentityError is what [ErrWrongIdentity] looks like in practice: a
// one-line message for the operator, matching the sentinel, and unwrapping to
// age's own error.
type wrongIdentityError struct {
	msg string
	err *age.NoIdentityMatchError
}

func (e *wrongIdentityError) Error() string        { return e.msg }
func (e *wrongIdentityError) Is(target error) bool { return target == ErrWrongIdentity }
func (e *wrongIdentityError) Unwrap() error        { return e.err }

// stanzaHint describes what a file is encrypted to, from its stanza types,
// for the wrong-identity message.
func stanzaHint(nm *age.NoIdentityMatchError) string {
	for _, t := range nm.StanzaTypes {
		if t == "scrypt" {
			return " (this file is passphrase-encrypted: decrypt it with age -d and its passphrase)"
		}
	}
	if len(nm.StanzaTypes) == 0 {
		return ""
	}
	seen := map[string]bool{}
	var types []string
	for _, t := range nm.StanzaTypes {
		if !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	return fmt.Sprintf(" (it is encrypted to %d recipient(s) of type %s)", len(nm.StanzaTypes), strings.Join(types, ", "))
}
