package encrypt_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/encrypt"
)

// keyFileStanzas returns the recipient stanza lines ("-> ...") of an age
// file's header.
func keyFileStanzas(t *testing.T, ageFile []byte) []string {
	t.Helper()
	lines := strings.Split(string(ageFile), "\n")
	if lines[0] != "age-encryption.org/v1" {
		t.Fatalf("not a binary age file: first line %q", lines[0])
	}
	var stanzas []string
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "---") {
			break
		}
		if strings.HasPrefix(l, "-> ") {
			stanzas = append(stanzas, l)
		}
	}
	return stanzas
}

func TestPassphraseKeyFile(t *testing.T) {
	enc := testPassphrase(t, "s3cret")
	stanzas := keyFileStanzas(t, enc.KeyFile())
	if len(stanzas) != 1 || !strings.HasPrefix(stanzas[0], "-> scrypt ") || !strings.HasSuffix(stanzas[0], " 10") {
		t.Fatalf("key file stanzas = %q, want one scrypt stanza with work factor 10", stanzas)
	}
	// Files are encrypted to the session's X25519 recipient: no scrypt per file.
	fileStanzas := keyFileStanzas(t, encryptBytes(t, enc, []byte("x")))
	if len(fileStanzas) != 1 || !strings.HasPrefix(fileStanzas[0], "-> X25519 ") {
		t.Fatalf("file stanzas = %q, want one X25519 stanza", fileStanzas)
	}
	if k := enc.KeyFile(); &k[0] == &enc.KeyFile()[0] {
		t.Error("KeyFile returns shared memory")
	}
}

func TestPassphraseErrors(t *testing.T) {
	enc := testPassphrase(t, "s3cret")
	ct := encryptBytes(t, enc, []byte("payload"))

	if _, err := encrypt.PassphraseDecryptor([]byte("wrong"), enc.KeyFile()); !errors.Is(err, encrypt.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: err = %v, want ErrWrongPassphrase", err)
	}
	if _, err := encrypt.PassphraseWithKeyFile([]byte("wrong"), enc.KeyFile()); !errors.Is(err, encrypt.ErrWrongPassphrase) {
		t.Errorf("resume with wrong passphrase: err = %v, want ErrWrongPassphrase", err)
	}

	// Same passphrase, another session: its key file does not open this file.
	other := testPassphrase(t, "s3cret")
	dec, err := encrypt.PassphraseDecryptor([]byte("s3cret"), other.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	_, err = decryptBytes(dec, ct)
	if !errors.Is(err, encrypt.ErrWrongIdentity) || !strings.Contains(err.Error(), encrypt.KeyFileName) {
		t.Errorf("other session's key file: err = %v, want ErrWrongIdentity naming %s", err, encrypt.KeyFileName)
	}

	// A key file that is not passphrase-encrypted.
	notScrypt := encryptBytes(t, mustRecipients(t, newX25519(t).recipient), []byte("AGE-SECRET-KEY-1"))
	if _, err := encrypt.PassphraseDecryptor([]byte("s3cret"), notScrypt); err == nil || !strings.Contains(err.Error(), "not passphrase-encrypted") {
		t.Errorf("X25519 file as key file: err = %v", err)
	}
	damaged := enc.KeyFile()
	damaged[len(damaged)-5] ^= 1
	if _, err := encrypt.PassphraseDecryptor([]byte("s3cret"), damaged); !errors.Is(err, encrypt.ErrCorrupt) {
		t.Errorf("damaged key file: err = %v, want ErrCorrupt", err)
	}

	if _, err := encrypt.Passphrase(nil); err == nil {
		t.Error("empty passphrase accepted")
	}
	for _, logN := range []int{0, encrypt.DefaultWorkFactor + 1, 23} {
		if _, err := encrypt.Passphrase([]byte("x"), encrypt.WithWorkFactor(logN)); err == nil {
			t.Errorf("work factor %d accepted", logN)
		}
	}
}

// Unchanged files may be reused from an earlier snapshot instead of being
// pushed again; a resumed session keeps them all readable with one key file.
func TestPassphraseWithKeyFile(t *testing.T) {
	first := testPassphrase(t, "s3cret")
	old := encryptBytes(t, first, []byte("pushed last week"))

	resumed, err := encrypt.PassphraseWithKeyFile([]byte("s3cret"), first.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resumed.KeyFile(), first.KeyFile()) {
		t.Error("resumed session changed the key file")
	}
	fresh := encryptBytes(t, resumed, []byte("pushed today"))

	dec, err := encrypt.PassphraseDecryptor([]byte("s3cret"), resumed.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	for want, ct := range map[string][]byte{"pushed last week": old, "pushed today": fresh} {
		got, err := decryptBytes(dec, ct)
		if err != nil || string(got) != want {
			t.Errorf("got %q, %v; want %q", got, err, want)
		}
	}
}

func TestPassphraseFromFile(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"pw\n":     "pw",
		"pw":       "pw",
		"pw\r\n":   "pw",
		"pw\n\n":   "pw\n", // only one newline is trimmed
		" pw \n":   " pw ",
		"two\nl\n": "two\nl",
	}
	for content, want := range cases {
		got, err := encrypt.PassphraseFromFile(writeFile(t, dir, "pass", []byte(content)))
		if err != nil || string(got) != want {
			t.Errorf("%q: got %q, %v; want %q", content, got, err, want)
		}
	}
	for _, empty := range []string{"", "\n"} {
		if _, err := encrypt.PassphraseFromFile(writeFile(t, dir, "pass", []byte(empty))); err == nil {
			t.Errorf("%q: empty passphrase accepted", empty)
		}
	}
}

// TestPassphraseDefaultWorkFactor pays for one real scrypt derivation (about
// a second, 268 MB) to pin the production default to age's.
func TestPassphraseDefaultWorkFactor(t *testing.T) {
	if testing.Short() {
		t.Skip("costly scrypt derivation")
	}
	enc, err := encrypt.Passphrase([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	stanzas := keyFileStanzas(t, enc.KeyFile())
	if len(stanzas) != 1 || !strings.HasSuffix(stanzas[0], " 18") {
		t.Fatalf("key file stanzas = %q, want work factor 18 (age's default)", stanzas)
	}
}
