package encrypt

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Suffix is appended to the name of every encrypted file (db/atocore.db
// becomes db/atocore.db.age), so that an operator browsing the target sees at
// once which files need `age -d`.
const FileSuffix = ".age"

// Encryptor turns a plaintext stream into ciphertext for a fixed set of
// recipients. The push code takes one Encryptor per session and calls Encrypt
// once per snapshot file, so that every remote file is a standalone age file.
//
// Implementations are safe for concurrent use: files may be encrypted in
// parallel (age uses one core per stream).
type Encryptor interface {
	// Encrypt returns a WriteCloser: plaintext written to it is encrypted
	// to dst as it arrives, in 64 KiB chunks, so memory stays constant
	// whatever the file size.
	//
	// Close flushes the final chunk and MUST be called: without it the
	// ciphertext is truncated and will not decrypt. Close does not close
	// dst. After any error from Write or Close, the ciphertext written so
	// far is incomplete and must be discarded.
	Encrypt(dst io.Writer) (io.WriteCloser, error)

	// Suffix is the name suffix of encrypted files (".age").
	Suffix() string
}

// Decryptor turns ciphertext back into plaintext. It is what a restore on a
// fresh machine needs besides the target's address: built from an identity
// file ([IdentitiesFromFile]) or from a passphrase and the snapshot's key
// file ([PassphraseDecryptor]).
type Decryptor interface {
	// Decrypt reads the age header from src and returns a Reader of the
	// plaintext. Binary and ASCII-armored (age -a) input are both accepted.
	//
	// Damage is reported at read time: a Read on the returned Reader fails
	// with an error matching [ErrCorrupt] when a chunk does not
	// authenticate or the file is truncated, so a damaged file can never
	// pass for a shorter, valid one. A file none of the identities can
	// open fails here with an error matching [ErrWrongIdentity].
	Decrypt(src io.Reader) (io.Reader, error)
}

var (
	// ErrWrongIdentity is matched (with errors.Is) when none of the
	// identities can open a file: the snapshot was pushed to other
	// recipients, or under another key file. The error also unwraps to
	// *age.NoIdentityMatchError for callers that want the stanza types.
	//
	// A file whose header was damaged in the recipient stanzas also ends
	// here, since age cannot tell the two apart.
	ErrWrongIdentity = errors.New("wrong identity")

	// ErrWrongPassphrase is matched when a passphrase does not open a key
	// file (see [PassphraseDecryptor]).
	ErrWrongPassphrase = errors.New("wrong passphrase")

	// ErrCorrupt is matched when ciphertext is damaged, truncated, has
	// trailing data or is not an age file at all. A caller verifying an
	// upload branches on it to re-send the file; errors reading the
	// underlying source (network, disk) never match it.
	ErrCorrupt = errors.New("ciphertext is damaged, truncated or not an age file")

	// ErrWorkFactor is matched when a key file asks for a costlier scrypt
	// derivation than this tool ever writes ([DefaultWorkFactor]). A key
	// file comes from the target, which must not be able to make every
	// push and pull spend gigabytes and minutes: it is refused before any
	// derivation.
	ErrWorkFactor = errors.New("scrypt work factor above this tool's own")
)

// maxKeyFileSize bounds the key and recipient files read into memory, as the
// age CLI does.
const maxKeyFileSize = 16 << 20

// readSmallFile reads a key, recipient or passphrase file, refusing files too
// large to be one (a snapshot given by mistake).
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a key file", path, maxKeyFileSize)
	}
	return data, nil
}
