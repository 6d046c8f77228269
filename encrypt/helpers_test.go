package encrypt_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atocore/atocore-backup/encrypt"
	"golang.org/x/crypto/ssh"
)

// tool returns the path of an external program the test needs. It skips the
// test when the program is missing, unless ATOCORE_REQUIRE_TOOLS=1 (as in CI),
// where a missing tool must not turn an interoperability check into a pass.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found and ATOCORE_REQUIRE_TOOLS=1: %v", name, err)
		}
		t.Skipf("%s not installed (apt-get install age): %v", name, err)
	}
	return p
}

// keyPair is a test identity: a file usable with `age -i` and
// IdentitiesFromFile, and the matching recipient line.
type keyPair struct {
	kind      string
	identity  string // path of the identity file
	recipient string // public line for ParseRecipients / age -r
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newX25519(t *testing.T) keyPair {
	t.Helper()
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, t.TempDir(), "key.txt", []byte("# test identity\n"+id+"\n"))
	return keyPair{kind: "x25519", identity: p, recipient: rcpt}
}

func newSSHEd25519(t *testing.T) keyPair {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sshPair(t, "ssh-ed25519", pub, priv)
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// newSSHRSA returns a 2048-bit RSA pair; the key is generated once per test
// binary because RSA generation is slow.
func newSSHRSA(t *testing.T) keyPair {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return sshPair(t, "ssh-rsa", &rsaKey.PublicKey, rsaKey)
}

func sshPair(t *testing.T, kind string, pub, priv any) keyPair {
	t.Helper()
	blk, err := ssh.MarshalPrivateKey(priv, "test@atocore")
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, t.TempDir(), "id_"+strings.TrimPrefix(kind, "ssh-"), pem.EncodeToMemory(blk))
	return keyPair{kind: kind, identity: p, recipient: sshLine(t, pub) + " test@atocore"}
}

func sshLine(t *testing.T, pub any) string {
	t.Helper()
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

// encryptBytes runs plain through enc and returns the ciphertext.
func encryptBytes(t *testing.T, enc encrypt.Encryptor, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := enc.Encrypt(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decryptBytes decrypts ct entirely, returning the first error from Decrypt
// or from reading.
func decryptBytes(dec encrypt.Decryptor, ct []byte) ([]byte, error) {
	r, err := dec.Decrypt(bytes.NewReader(ct))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func mustIdentities(t *testing.T, path string) *encrypt.Identities {
	t.Helper()
	ids, err := encrypt.IdentitiesFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func mustRecipients(t *testing.T, lines ...string) *encrypt.Recipients {
	t.Helper()
	rs, err := encrypt.ParseRecipients(lines...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// testPassphrase returns a cheap passphrase session: work factor 10 keeps the
// suite fast; the default is exercised by ExamplePassphrase.
func testPassphrase(t *testing.T, pass string) *encrypt.PassphraseEncryptor {
	t.Helper()
	p, err := encrypt.Passphrase([]byte(pass), encrypt.WithWorkFactor(10))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sample returns n bytes of varied, compressible-looking plaintext.
func sample(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}
