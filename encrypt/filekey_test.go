package encrypt_test

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/encrypt"
)

func encryptKeyed(t *testing.T, k *encrypt.FileKey, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := encrypt.EncryptWithKey(&out, k)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes, so that chunk boundaries fall inside writes.
	for p := plain; len(p) > 0; {
		n := min(len(p), 10_007)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// A file encrypted under a FileKey is an age file like any other: the age
// library and the age CLI decrypt it, for every recipient kind and at
// every size around the 64 KiB chunk (empty, one byte, a chunk less one,
// one, one and a byte, several); the same key gives the same bytes, and
// two keys different ones.
func TestEncryptWithKeyIsAge(t *testing.T) {
	ageBin := tool(t, "age")
	x, ed, rs := newX25519(t), newSSHEd25519(t), newSSHRSA(t)
	enc := mustRecipients(t, x.recipient, ed.recipient, rs.recipient)
	const chunk = 64 << 10
	for _, size := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 5<<20 + 7} {
		plain := sample(size)
		k, err := enc.NewFileKey()
		if err != nil {
			t.Fatal(err)
		}
		ct := encryptKeyed(t, k, plain)
		if again := encryptKeyed(t, k, plain); !bytes.Equal(again, ct) {
			t.Fatalf("size %d: the same key gave other bytes", size)
		}
		k2, _ := enc.NewFileKey()
		if other := encryptKeyed(t, k2, plain); bytes.Equal(other, ct) {
			t.Fatalf("size %d: two keys gave the same bytes", size)
		}
		for _, id := range []keyPair{x, ed, rs} {
			ids, err := encrypt.IdentitiesFromFile(id.identity)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ids.Decrypt(bytes.NewReader(ct))
			if err != nil {
				t.Fatalf("size %d, %s: %v", size, id.kind, err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("size %d, %s: decrypted %d bytes (%v), want %d", size, id.kind, len(got), err, size)
			}
		}
		dir := t.TempDir()
		in := writeFile(t, dir, "f.age", ct)
		out := filepath.Join(dir, "out")
		runAge(t, ageBin, "-d", "-i", x.identity, "-o", out, in)
		if size == 0 {
			continue // age 1.1 makes no output file for an empty plaintext
		}
		if !bytes.Equal(readFile(t, out), plain) {
			t.Fatalf("size %d: age -d gives other bytes", size)
		}
	}
}

// A passphrase session's FileKey opens with the session's key file.
func TestPassphraseFileKey(t *testing.T) {
	p, err := encrypt.Passphrase([]byte("correct horse"), encrypt.WithWorkFactor(10))
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.NewFileKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := sample(200_000)
	ct := encryptKeyed(t, k, plain)
	d, err := encrypt.PassphraseDecryptor([]byte("correct horse"), p.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Decrypt(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypted %d bytes, %v", len(got), err)
	}
}

// Damage to a keyed file is caught like damage to any age file: a flipped
// byte in a chunk, a cut, a header MAC that does not match.
func TestEncryptWithKeyDamage(t *testing.T) {
	x := newX25519(t)
	enc := mustRecipients(t, x.recipient)
	k, _ := enc.NewFileKey()
	ct := encryptKeyed(t, k, sample(3*64<<10+5))
	ids, err := encrypt.IdentitiesFromFile(x.identity)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"flipped": func() []byte { b := bytes.Clone(ct); b[len(b)-100] ^= 1; return b }(),
		"cut":     ct[:len(ct)-64<<10],
		"header":  func() []byte { b := bytes.Clone(ct); b[len(k.Header)-5] ^= 1; return b }(),
	} {
		r, err := ids.Decrypt(bytes.NewReader(bad))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err == nil {
			t.Errorf("%s: decrypted without an error", name)
		}
	}
	if _, err := encrypt.EncryptWithKey(io.Discard, &encrypt.FileKey{Header: k.Header, Key: k.Key[:8], Nonce: k.Nonce}); err == nil {
		t.Error("a short file key was taken")
	}
}
