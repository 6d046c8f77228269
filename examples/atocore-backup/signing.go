package main

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/offsite"
)

// pickFile is a file flag, else its environment variable.
func (a *app) pickFile(flagVal, env string) string {
	if flagVal != "" {
		return flagVal
	}
	return a.getenv(env)
}

// pickBool is a boolean flag, else its environment variable (1, true, yes).
func (a *app) pickBool(flagVal bool, env string) bool {
	if flagVal {
		return true
	}
	switch strings.ToLower(a.getenv(env)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// signer is the key that signs a push's statements: --signing-key (or
// ATOCORE_SIGNING_KEY), else the SFTP --ssh-key when it is Ed25519. None
// is refused unless unsigned pushes are allowed, loudly.
func (a *app) signer() (ssh.Signer, error) {
	if file := a.pickFile(a.f.signingKey, "ATOCORE_SIGNING_KEY"); file != "" {
		return offsite.SignerFrom(file)
	}
	if a.f.sshKey != "" {
		if s, err := offsite.SignerFrom(a.f.sshKey); err == nil {
			return s, nil
		}
	}
	if a.pickBool(a.f.allowUnsigned, "ATOCORE_ALLOW_UNSIGNED") {
		if !a.warnedUnsigned { // once, for a push to several targets
			a.warnedUnsigned = true
			a.say("WARNING: pushing UNSIGNED snapshots (--allow-unsigned): a restoring machine cannot tell them from forgeries by whoever stores them")
		}
		return nil, nil
	}
	return nil, errors.New("push signs every snapshot it sends: pass --signing-key FILE (an Ed25519 OpenSSH private key without passphrase: ssh-keygen -t ed25519 -N '' -f FILE) or set ATOCORE_SIGNING_KEY; --allow-unsigned pushes without (not recommended)")
}

// trust builds what pull, remote validate and remote list believe.
func (a *app) trust() (offsite.Trust, error) {
	t, err := offsite.TrustFrom(a.pickFile(a.f.allowedSigners, "ATOCORE_ALLOWED_SIGNERS"),
		a.pickBool(a.f.allowUnsigned, "ATOCORE_ALLOW_UNSIGNED"), a.pickBool(a.f.allowRollback, "ATOCORE_ALLOW_ROLLBACK"))
	if err != nil {
		return t, fmt.Errorf("%w (--allowed-signers takes OpenSSH's allowed_signers format: IDENTITY namespaces=\"atocore-backup\" ssh-ed25519 AAAA...)", err)
	}
	t.AllowOtherTarget = a.pickBool(a.f.allowOtherTarget, "ATOCORE_ALLOW_OTHER_TARGET")
	return t, nil
}

// signatureHint adds the flag to use to a refusal of the library.
func signatureHint(err error) error {
	switch {
	case errors.Is(err, offsite.ErrNotVerified):
		return fmt.Errorf("%w; pass --allowed-signers FILE with the pushing host's key (docs/offsite.md), or --allow-unsigned to accept it unverified", err)
	case errors.Is(err, offsite.ErrUnsigned):
		return fmt.Errorf("%w; a snapshot pushed before signing existed is accepted with --allow-unsigned, if you trust the target", err)
	case errors.Is(err, offsite.ErrRollback):
		return fmt.Errorf("%w; --allow-rollback accepts it", err)
	case errors.Is(err, offsite.ErrOtherTarget):
		return fmt.Errorf("%w; --allow-other-target accepts it (a target restored from a copy of another)", err)
	}
	return err
}

// objectLock is push's --object-lock-days and --object-lock-mode, checked:
// the target is asked to keep them later, once open (a target that
// cannot lock refuses then, before anything is sent).
func (a *app) objectLock() (offsite.ObjectLock, error) {
	l := offsite.ObjectLock{Days: a.f.objectLockDays, Mode: a.f.objectLockMode}
	if l.Days < 0 {
		return l, fmt.Errorf("--object-lock-days %d: give a number of days, 1 or more (0 locks nothing)", l.Days)
	}
	if l.Mode != "" && l.Mode != offsite.LockGovernance && l.Mode != offsite.LockCompliance {
		return l, fmt.Errorf("--object-lock-mode %q: use governance or compliance", l.Mode)
	}
	if l.Mode != "" && l.Days == 0 {
		return l, fmt.Errorf("--object-lock-mode %s without --object-lock-days: give the days the lock lasts", l.Mode)
	}
	return l, nil
}

// deltaChain is push's --delta-chain as offsite.PushOptions takes it: 0
// there means the default, so "always whole" is negative.
func (a *app) deltaChain() (int, error) {
	switch {
	case a.f.deltaChain < 0:
		return 0, fmt.Errorf("--delta-chain %d: give the number of page deltas that may follow a whole copy of the database (0: always whole)", a.f.deltaChain)
	case a.f.deltaChain == 0:
		return -1, nil
	}
	return a.f.deltaChain, nil
}
