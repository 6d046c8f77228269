package offsite

import (
	"strings"

	"github.com/atocore/atocore-backup/encrypt"
)

// Sealing says how pushed snapshots are encrypted. The zero value pushes
// plaintext copies.
type Sealing struct {
	// Recipients encrypt to public keys: the pushing machine holds no secret.
	Recipients *encrypt.Recipients
	// Passphrase encrypts to a session key stored, scrypt-sealed, beside
	// each snapshot (one scrypt per pushed snapshot).
	Passphrase []byte
	// PassphraseOptions tune the scrypt cost (tests lower it).
	PassphraseOptions []encrypt.PassphraseOption
}

// Encrypted reports whether s encrypts at all.
func (s Sealing) Encrypted() bool { return s.Recipients != nil || len(s.Passphrase) > 0 }

// session is the encryptor of one pushed snapshot and the identity of its
// keys: files are reused from another snapshot only under the same keys.
type session struct {
	enc     encrypt.Encryptor
	keyFile []byte // passphrase mode: the sealed session key to store
	keyID   string
}

// open starts a session. With a passphrase, an existing key file (from a
// resumed upload or the previous pushed snapshot) is reused so that reused
// files stay readable with this snapshot's key file.
func (s Sealing) open(existingKeyFile []byte) (*session, error) {
	switch {
	case s.Recipients != nil:
		return &session{enc: s.Recipients, keyID: "recipients:" + strings.Join(s.Recipients.List(), ",")}, nil
	case len(s.Passphrase) > 0:
		var p *encrypt.PassphraseEncryptor
		var err error
		if existingKeyFile != nil {
			p, err = encrypt.PassphraseWithKeyFile(s.Passphrase, existingKeyFile)
		} else {
			p, err = encrypt.Passphrase(s.Passphrase, s.PassphraseOptions...)
		}
		if err != nil {
			return nil, err
		}
		kf := p.KeyFile()
		return &session{enc: p, keyFile: kf, keyID: keyFileID(kf)}, nil
	}
	return &session{keyID: "plaintext"}, nil
}

// Opening says how to read snapshots back: the keys that decrypt them and
// which signed statements to believe.
type Opening struct {
	Identities *encrypt.Identities
	Passphrase []byte
	// Trust says which snapshots are believed (zero: none; see Trust).
	Trust Trust
}

// Any reports whether o can decrypt anything.
func (o Opening) Any() bool { return o.Identities != nil || len(o.Passphrase) > 0 }

func (o Opening) decryptor(keyFile []byte) (encrypt.Decryptor, error) {
	if keyFile != nil {
		if len(o.Passphrase) == 0 {
			return nil, ErrNeedPassphrase
		}
		return encrypt.PassphraseDecryptor(o.Passphrase, keyFile)
	}
	if o.Identities == nil {
		return nil, ErrNeedIdentity
	}
	return o.Identities, nil
}
