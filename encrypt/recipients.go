package encrypt

import (
	"crypto/rsa"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// Recipients encrypts to a set of public keys: age X25519 recipients
// ("age1...") and SSH public keys ("ssh-ed25519 ...", "ssh-rsa ..."). Every
// file is encrypted to all of them, and any one matching identity decrypts it,
// with this package or with the age CLI alone.
//
// Use Recipients for unattended pushes: encrypting needs only public keys, so
// the machine that makes backups cannot read the copies it pushes.
type Recipients struct {
	recipients []age.Recipient
	lines      []string
}

var _ Encryptor = (*Recipients)(nil)

// ParseRecipients parses recipients, one per line, in the format of the age
// CLI's -R file: "age1..." X25519 recipients and "ssh-ed25519 AAAA..." or
// "ssh-rsa AAAA..." public key lines. Blank lines and lines starting with "#"
// are ignored; an argument may hold several lines.
//
// Anything else is refused with a one-line error that names the line and the
// fix. In particular, post-quantum "age1pq1..." recipients are refused because
// the age 1.1 packaged by Debian cannot decrypt such files, which would defeat
// recovering with the age tool alone; and a secret key pasted by mistake is
// refused without echoing it.
func ParseRecipients(lines ...string) (*Recipients, error) {
	return parseRecipients("recipient line ", strings.Join(lines, "\n"))
}

// RecipientsFromFile reads a recipients file in the age CLI's -R format (see
// [ParseRecipients]). Errors name the file and line ("path:3: ...").
func RecipientsFromFile(path string) (*Recipients, error) {
	data, err := readSmallFile(path)
	if err != nil {
		return nil, fmt.Errorf("encrypt: read recipients file: %w", err)
	}
	return parseRecipients(path+":", string(data))
}

func parseRecipients(where, text string) (*Recipients, error) {
	rs := &Recipients{}
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, canonical, err := parseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("encrypt: %s%d: %v", where, i+1, err)
		}
		if seen[canonical] {
			continue
		}
		seen[canonical] = true
		rs.recipients = append(rs.recipients, r)
		rs.lines = append(rs.lines, canonical)
	}
	if len(rs.recipients) == 0 {
		return nil, fmt.Errorf("encrypt: no recipients given: add an age1... recipient (from age-keygen) or an ssh-ed25519/ssh-rsa public key line")
	}
	return rs, nil
}

// parseRecipient parses one non-blank line. Its errors never echo the line
// when it may hold secret material; the caller adds the location.
func parseRecipient(line string) (age.Recipient, string, error) {
	switch {
	case strings.HasPrefix(line, "AGE-SECRET-KEY-"):
		hint := "age-keygen -y KEYFILE prints it"
		if id, err := age.ParseX25519Identity(line); err == nil {
			hint = id.Recipient().String()
		}
		return nil, "", fmt.Errorf("this is a secret key (an age identity), not a recipient; give its public recipient instead (%s) and keep the secret key off this machine", hint)
	case strings.HasPrefix(line, "AGE-PLUGIN-"):
		return nil, "", fmt.Errorf("this is an age plugin identity (secret), not a recipient; give a public age1... recipient instead")
	case strings.HasPrefix(line, "-----BEGIN"):
		return nil, "", fmt.Errorf("this is a private key file, not a public key; give the public key line instead (the .pub file, or ssh-keygen -y -f KEYFILE)")
	case strings.HasPrefix(line, "age1pq1"):
		return nil, "", fmt.Errorf("post-quantum recipient %s refused: Debian's age 1.1 (any age before 1.3) cannot decrypt files encrypted to it; use an X25519 recipient (age1..., from age-keygen) or an SSH public key", quote(line))
	case strings.HasPrefix(line, "age1") && strings.Count(line, "1") > 1:
		// The bech32 data of an X25519 recipient never holds a "1", so a
		// second one means "age1<plugin>1...".
		return nil, "", fmt.Errorf("plugin recipient %s refused: decrypting would need an age plugin, not the age tool alone; use an X25519 recipient (age1..., from age-keygen) or an SSH public key", quote(line))
	case strings.HasPrefix(line, "age1"):
		r, err := age.ParseX25519Recipient(line)
		if err != nil {
			return nil, "", fmt.Errorf("malformed age recipient %s (%v); copy the whole age1... line printed by age-keygen", quote(line), err)
		}
		return r, r.String(), nil
	case strings.HasPrefix(line, "github:"):
		return nil, "", fmt.Errorf("%s: github: recipients are not supported; paste the key line itself (from https://github.com/USER.keys)", quote(line))
	case strings.HasPrefix(line, "ssh-"), strings.HasPrefix(line, "ecdsa-"), strings.HasPrefix(line, "sk-"):
		return parseSSHRecipient(line)
	}
	return nil, "", fmt.Errorf("unrecognized recipient %s: expected an age X25519 recipient (age1..., from age-keygen) or an SSH public key line (ssh-ed25519 AAAA... or ssh-rsa AAAA...)", quote(line))
}

func parseSSHRecipient(line string) (age.Recipient, string, error) {
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, "", fmt.Errorf("malformed SSH public key %s (%v); paste the whole line of the .pub file", quote(line), err)
	}
	switch t := pub.Type(); t {
	case ssh.KeyAlgoED25519:
	case ssh.KeyAlgoRSA:
		if k, ok := pub.(ssh.CryptoPublicKey); ok {
			if rk, ok := k.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
				return nil, "", fmt.Errorf("ssh-rsa key of %d bits refused: age needs at least 2048; use an ssh-ed25519 key (ssh-keygen -t ed25519)", rk.N.BitLen())
			}
		}
	default:
		return nil, "", fmt.Errorf("SSH key type %s is not supported by age; use an ssh-ed25519 or ssh-rsa key (ssh-keygen -t ed25519), or an age1... recipient", t)
	}
	canonical := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	r, err := agessh.ParseRecipient(canonical)
	if err != nil {
		return nil, "", fmt.Errorf("unusable SSH public key %s: %v", quote(line), err)
	}
	if comment != "" {
		canonical += " " + comment
	}
	return r, canonical, nil
}

// Encrypt implements [Encryptor]: the returned writer encrypts to every
// recipient. Close must be called.
func (rs *Recipients) Encrypt(dst io.Writer) (io.WriteCloser, error) {
	w, err := age.Encrypt(dst, rs.recipients...)
	if err != nil {
		return nil, fmt.Errorf("encrypt: start age file: %w", err)
	}
	return w, nil
}

// Suffix implements [Encryptor]; it returns [FileSuffix].
func (rs *Recipients) Suffix() string { return FileSuffix }

// List returns the recipients in canonical form, one line each, in the order
// given and without duplicates. Record it with a pushed snapshot so that an
// operator knows which identity opens it; it holds only public keys.
func (rs *Recipients) List() []string {
	return append([]string(nil), rs.lines...)
}

// quote renders a rejected line for an error message, cut short so that a
// long key does not swamp it.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}
