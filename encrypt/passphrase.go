package encrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
)

// KeyFileName is the name under which the push stores a passphrase session's
// key file ([PassphraseEncryptor.KeyFile]) beside each snapshot. It is not a
// snapshot file: it holds the session identity, scrypt-encrypted.
const KeyFileName = "key.age"

// DefaultWorkFactor is the scrypt work factor (log2 N) of a key file: age's
// own default, about one second and 268 MB of memory per derivation.
const DefaultWorkFactor = 18

// PassphraseEncryptor encrypts a push session's files under a passphrase while
// paying for scrypt once, not once per file.
//
// age's scrypt recipient costs about a second and 268 MB per file, which
// would make a snapshot of a thousand Chroma segment files unaffordable. So
// instead a PassphraseEncryptor holds one random X25519 identity: every file
// is encrypted to that identity's recipient (fast), and the identity itself is
// encrypted once with the passphrase (scrypt) into a small key file that the
// push stores as [KeyFileName] beside the snapshot.
//
// To recover with the age CLI alone, an operator runs
//
//	age -d -o key.txt key.age           # asks for the passphrase
//	age -d -i key.txt db/atocore.db.age > atocore.db
//
// (or `age -d -i key.age FILE.age`, which asks for the passphrase each time).
//
// PassphraseEncryptor is safe for concurrent use.
type PassphraseEncryptor struct {
	recipient *age.X25519Recipient
	keyFile   []byte
}

var _ Encryptor = (*PassphraseEncryptor)(nil)

// PassphraseOption adjusts [Passphrase]. The zero set of options is right for
// production.
type PassphraseOption func(*passphraseOptions)

type passphraseOptions struct {
	workFactor int
}

// WithWorkFactor sets the scrypt work factor (log2 N, 1 to
// [DefaultWorkFactor]) of the key file. Lower values make the passphrase
// cheaper to guess: use them in tests only. Higher values are refused:
// this tool refuses to open key files above its own cost (a target could
// otherwise plant one that costs gigabytes per push).
func WithWorkFactor(logN int) PassphraseOption {
	return func(o *passphraseOptions) { o.workFactor = logN }
}

// Passphrase starts a passphrase-encrypted push session: it generates the
// session identity and seals it under pass into the key file (one scrypt
// derivation, about a second). Store [PassphraseEncryptor.KeyFile] beside
// the snapshot.
//
// Each call makes a new session identity. When the target already holds a
// key file and unchanged files are reused from an earlier snapshot instead
// of being sent again, use [PassphraseWithKeyFile] so that one key file opens
// them all.
func Passphrase(pass []byte, opts ...PassphraseOption) (*PassphraseEncryptor, error) {
	o := passphraseOptions{workFactor: DefaultWorkFactor}
	for _, opt := range opts {
		opt(&o)
	}
	if o.workFactor < 1 || o.workFactor > maxWorkFactor {
		return nil, fmt.Errorf("encrypt: scrypt work factor %d out of range 1..%d (key files above it are refused when opened)", o.workFactor, maxWorkFactor)
	}
	if len(pass) == 0 {
		return nil, errors.New("encrypt: empty passphrase")
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("encrypt: generate session identity: %w", err)
	}
	keyFile, err := sealIdentity(pass, o.workFactor, id)
	if err != nil {
		return nil, err
	}
	return &PassphraseEncryptor{recipient: id.Recipient(), keyFile: keyFile}, nil
}

// PassphraseWithKeyFile resumes the session of an existing key file: files
// are encrypted to the same identity, and KeyFile returns keyFile unchanged.
// It opens the key file with pass (one scrypt derivation), so a wrong
// passphrase fails here, matching [ErrWrongPassphrase], before anything is
// pushed.
func PassphraseWithKeyFile(pass, keyFile []byte) (*PassphraseEncryptor, error) {
	id, err := openKeyFile(pass, keyFile)
	if err != nil {
		return nil, err
	}
	return &PassphraseEncryptor{recipient: id.Recipient(), keyFile: bytes.Clone(keyFile)}, nil
}

// Encrypt implements [Encryptor]: the file is encrypted to the session
// identity, which costs no scrypt derivation. Close must be called.
func (p *PassphraseEncryptor) Encrypt(dst io.Writer) (io.WriteCloser, error) {
	w, err := age.Encrypt(dst, p.recipient)
	if err != nil {
		return nil, fmt.Errorf("encrypt: start age file: %w", err)
	}
	return w, nil
}

// Suffix implements [Encryptor]; it returns [FileSuffix].
func (p *PassphraseEncryptor) Suffix() string { return FileSuffix }

// KeyFile returns the session identity encrypted with the passphrase: a
// small age file with a single scrypt stanza. Store it beside every snapshot
// the session pushes (as [KeyFileName]): without it, and the passphrase, the
// snapshot cannot be decrypted. It is safe to store on the target.
func (p *PassphraseEncryptor) KeyFile() []byte { return bytes.Clone(p.keyFile) }

// PassphraseDecryptor opens keyFile with pass (one scrypt derivation) and
// returns a Decryptor for the files pushed in that session. A wrong
// passphrase fails here with an error matching [ErrWrongPassphrase], a key
// file costlier than this tool's own with [ErrWorkFactor]; a file from
// another session fails at Decrypt with [ErrWrongIdentity].
func PassphraseDecryptor(pass, keyFile []byte) (Decryptor, error) {
	id, err := openKeyFile(pass, keyFile)
	if err != nil {
		return nil, err
	}
	return &Identities{
		ids:     []age.Identity{id},
		noMatch: "the key file does not open this file; use the " + KeyFileName + " stored beside the snapshot the file belongs to",
	}, nil
}

// sealIdentity writes the key file: the identity in age-keygen's format,
// so that after `age -d key.age > key.txt` the operator holds an ordinary
// identity file for `age -d -i key.txt`.
func sealIdentity(pass []byte, workFactor int, id *age.X25519Identity) ([]byte, error) {
	r, err := age.NewScryptRecipient(string(pass))
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	r.SetWorkFactor(workFactor)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, fmt.Errorf("encrypt: seal session key: %w", err)
	}
	fmt.Fprintf(w, "# atocore-backup session key: decrypts the *.age files of snapshots pushed with a passphrase\n")
	fmt.Fprintf(w, "# created: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "# public key: %s\n", id.Recipient())
	fmt.Fprintf(w, "%s\n", id)
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: seal session key: %w", err)
	}
	return buf.Bytes(), nil
}

// openKeyFile decrypts a key file and returns the session identity.
func openKeyFile(pass, keyFile []byte) (*age.X25519Identity, error) {
	if len(pass) == 0 {
		return nil, errors.New("encrypt: empty passphrase")
	}
	if err := checkWorkFactor(keyFile); err != nil {
		return nil, fmt.Errorf("encrypt: open key file: %w", err)
	}
	sid, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	sid.SetMaxWorkFactor(maxWorkFactor)
	r, err := openAge(bytes.NewReader(keyFile), []age.Identity{sid}, func(nm *age.NoIdentityMatchError) error {
		if len(nm.StanzaTypes) == 1 && nm.StanzaTypes[0] == "scrypt" {
			return ErrWrongPassphrase
		}
		return fmt.Errorf("it is not passphrase-encrypted; give the %s stored beside the snapshot", KeyFileName)
	})
	if err != nil {
		return nil, fmt.Errorf("encrypt: open key file: %w", err)
	}
	text, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("encrypt: open key file: %w", err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("encrypt: key file holds no usable identity: %v", err)
	}
	id, ok := ids[0].(*age.X25519Identity)
	if len(ids) != 1 || !ok {
		return nil, errors.New("encrypt: key file must hold exactly one X25519 identity")
	}
	return id, nil
}

// PassphraseFromFile reads a passphrase from a file, for unattended pushes
// (a file readable only by the backup user, or a systemd credential). One
// trailing newline is removed, as editors and `echo` add it; an empty
// passphrase is refused.
func PassphraseFromFile(path string) ([]byte, error) {
	data, err := readSmallFile(path)
	if err != nil {
		return nil, fmt.Errorf("encrypt: read passphrase file: %w", err)
	}
	switch {
	case bytes.HasSuffix(data, []byte("\r\n")):
		data = data[:len(data)-2]
	case bytes.HasSuffix(data, []byte("\n")):
		data = data[:len(data)-1]
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("encrypt: passphrase file %s is empty", path)
	}
	return data, nil
}
