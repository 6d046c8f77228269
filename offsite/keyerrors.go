package offsite

import (
	"errors"

	"github.com/atocore/atocore-backup/encrypt"
)

var (
	// ErrNeedIdentity is matched when a snapshot encrypted to age
	// recipients is to be decrypted and no identity was given.
	ErrNeedIdentity = errors.New("the snapshot is encrypted to age recipients: an identity that matches one of them is needed")
	// ErrNeedPassphrase is matched when a passphrase-encrypted snapshot is
	// to be decrypted and no passphrase was given.
	ErrNeedPassphrase = errors.New("the snapshot is encrypted with a passphrase: the passphrase is needed")
)

// operatorsKey reports whether err is about the key the operator gave (a
// wrong or missing identity or passphrase), not about the snapshot: such
// an error is returned as is, never turned into a validation code, so that
// monitoring can tell an operator's mistake from corruption.
func operatorsKey(err error) bool {
	return errors.Is(err, encrypt.ErrWrongIdentity) || errors.Is(err, encrypt.ErrWrongPassphrase) ||
		errors.Is(err, ErrNeedIdentity) || errors.Is(err, ErrNeedPassphrase)
}
