package encrypt_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/atocore/atocore-backup/encrypt"
)

func TestRoundTrip(t *testing.T) {
	x, ed, rs := newX25519(t), newSSHEd25519(t), newSSHRSA(t)
	// Sizes around age's 64 KiB chunk: empty, one byte, exact and split chunks.
	sizes := []int{0, 1, 64 << 10, 64<<10 + 1, 300_000}
	for _, kp := range []keyPair{x, ed, rs} {
		t.Run(kp.kind, func(t *testing.T) {
			enc := mustRecipients(t, kp.recipient)
			dec := mustIdentities(t, kp.identity)
			for _, n := range sizes {
				plain := sample(n)
				got, err := decryptBytes(dec, encryptBytes(t, enc, plain))
				if err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("%d bytes: plaintext differs after round trip", n)
				}
			}
		})
	}
	t.Run("passphrase", func(t *testing.T) {
		enc := testPassphrase(t, "correct horse battery staple")
		if enc.Suffix() != ".age" {
			t.Errorf("Suffix() = %q", enc.Suffix())
		}
		dec, err := encrypt.PassphraseDecryptor([]byte("correct horse battery staple"), enc.KeyFile())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range sizes {
			plain := sample(n)
			got, err := decryptBytes(dec, encryptBytes(t, enc, plain))
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%d bytes: err=%v equal=%v", n, err, bytes.Equal(got, plain))
			}
		}
	})
	t.Run("multiple recipients", func(t *testing.T) {
		enc := mustRecipients(t, x.recipient, ed.recipient, rs.recipient)
		plain := sample(100_000)
		ct := encryptBytes(t, enc, plain)
		for _, kp := range []keyPair{x, ed, rs} {
			got, err := decryptBytes(mustIdentities(t, kp.identity), ct)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s: err=%v equal=%v", kp.kind, err, bytes.Equal(got, plain))
			}
		}
	})
}

// TestNoPlaintextOnTarget checks the promise to the target: a distinctive
// plaintext never appears in what is pushed, key file included.
func TestNoPlaintextOnTarget(t *testing.T) {
	marker := []byte("DRILL-MARKER-PLAINTEXT")
	plain := bytes.Repeat(append(marker, '\n'), 20_000)
	pass := testPassphrase(t, "drill")
	encs := map[string]encrypt.Encryptor{
		"x25519":      mustRecipients(t, newX25519(t).recipient),
		"ssh-ed25519": mustRecipients(t, newSSHEd25519(t).recipient),
		"passphrase":  pass,
	}
	for name, enc := range encs {
		ct := encryptBytes(t, enc, plain)
		if bytes.Contains(ct, marker) || bytes.Contains(ct, marker[:8]) {
			t.Errorf("%s: plaintext marker found in ciphertext", name)
		}
		if len(ct) < len(plain) {
			t.Errorf("%s: ciphertext shorter than plaintext", name)
		}
	}
	if bytes.Contains(pass.KeyFile(), []byte("AGE-SECRET-KEY")) {
		t.Error("key file holds the session identity in clear")
	}
}

func TestWrongIdentity(t *testing.T) {
	ct := encryptBytes(t, mustRecipients(t, newX25519(t).recipient), []byte("secret"))
	for _, other := range []keyPair{newX25519(t), newSSHEd25519(t)} {
		_, err := decryptBytes(mustIdentities(t, other.identity), ct)
		if !errors.Is(err, encrypt.ErrWrongIdentity) {
			t.Fatalf("%s: err = %v, want ErrWrongIdentity", other.kind, err)
		}
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); !ok {
			t.Errorf("%s: error does not unwrap to *age.NoIdentityMatchError", other.kind)
		}
		for _, want := range []string{"no identity in " + other.identity + " can decrypt this file", "use the identity matching the recipients", "X25519"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", other.kind, err, want)
			}
		}
		if errors.Is(err, encrypt.ErrCorrupt) {
			t.Errorf("wrong identity reported as corruption: %v", err)
		}
	}
}

// payloadStart returns the offset of the first payload chunk: after the
// header's "---" line and the 16-byte nonce.
func payloadStart(t *testing.T, ct []byte) int {
	t.Helper()
	i := bytes.Index(ct, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no header MAC line")
	}
	return i + 1 + bytes.IndexByte(ct[i+1:], '\n') + 1 + 16
}

func TestDamagedCiphertext(t *testing.T) {
	kp := newX25519(t)
	dec := mustIdentities(t, kp.identity)
	plain := sample(300_000) // five chunks
	ct := encryptBytes(t, mustRecipients(t, kp.recipient), plain)
	start := payloadStart(t, ct)
	const chunk = 64<<10 + 16

	flipped := bytes.Clone(ct)
	flipped[len(ct)/2] ^= 0x01

	cases := map[string][]byte{
		"flipped byte in the middle":  flipped,
		"truncated by one byte":       ct[:len(ct)-1],
		"truncated in the middle":     ct[:len(ct)/2],
		"truncated at a chunk border": ct[:start+2*chunk],
		"truncated after the nonce":   ct[:start],
		"truncated inside the header": ct[:20],
		"trailing garbage":            append(bytes.Clone(ct), 'x'),
		"not an age file (plaintext)": plain,
		"empty":                       nil,
	}
	for name, damaged := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := decryptBytes(dec, damaged)
			if err == nil {
				t.Fatalf("no error; got %d bytes of %d", len(got), len(plain))
			}
			if !errors.Is(err, encrypt.ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

// failingReader serves data, then fails like a dropped connection.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A failing source is an I/O problem, not damaged ciphertext: callers retry
// the first and re-push the second.
func TestSourceErrorIsNotCorruption(t *testing.T) {
	kp := newX25519(t)
	ct := encryptBytes(t, mustRecipients(t, kp.recipient), sample(300_000))
	errDropped := errors.New("connection reset")
	r, err := mustIdentities(t, kp.identity).Decrypt(&failingReader{data: ct[:len(ct)/2], err: errDropped})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, errDropped) || errors.Is(err, encrypt.ErrCorrupt) {
		t.Fatalf("err = %v, want the source error and not ErrCorrupt", err)
	}
}

func TestArmoredInput(t *testing.T) {
	kp := newX25519(t)
	plain := sample(200_000)
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := mustRecipients(t, kp.recipient).Encrypt(aw)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"armored":                   buf.Bytes(),
		"armored, leading newlines": append([]byte("\n\n  \n"), buf.Bytes()...),
	} {
		got, err := decryptBytes(mustIdentities(t, kp.identity), in)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: err=%v equal=%v", name, err, bytes.Equal(got, plain))
		}
	}
	damaged := bytes.Clone(buf.Bytes())
	damaged[len(damaged)/2] ^= 0x01 // still base64, different bytes
	if _, err := decryptBytes(mustIdentities(t, kp.identity), damaged); !errors.Is(err, encrypt.ErrCorrupt) {
		t.Fatalf("damaged armored file: err = %v, want ErrCorrupt", err)
	}
}

// TestStreamConstantMemory pushes 64 MiB through Encrypt and Decrypt
// connected by a pipe, as a push or pull does with a remote file, and checks
// that the live heap never grows with the file size.
func TestStreamConstantMemory(t *testing.T) {
	const size = 64 << 20
	const limit = 16 << 20
	kp := newX25519(t)
	enc, dec := mustRecipients(t, kp.recipient), mustIdentities(t, kp.identity)

	seed := [32]byte{'a', 't', 'o'}
	want := sha256.New()
	io.Copy(want, io.LimitReader(rand.NewChaCha8(seed), size))

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse

	began := time.Now()
	pr, pw := io.Pipe()
	go func() {
		w, err := enc.Encrypt(pw)
		if err == nil {
			_, err = io.Copy(w, io.LimitReader(rand.NewChaCha8(seed), size))
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		pw.CloseWithError(err)
	}()
	plain, err := dec.Decrypt(pr)
	if err != nil {
		t.Fatal(err)
	}

	got := sha256.New()
	var n, peak uint64
	buf := make([]byte, 1<<20)
	for {
		m, err := plain.Read(buf)
		got.Write(buf[:m])
		n += uint64(m)
		if n%(8<<20) < uint64(m) { // about every 8 MiB
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(began)
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("got %d bytes, hash match %v", n, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	growth := int64(peak) - int64(base)
	t.Logf("64 MiB in %v; heap in use grew by at most %d KiB", elapsed.Round(time.Millisecond), growth>>10)
	if growth >= limit {
		t.Errorf("heap in use grew by %d MiB while streaming, want < %d MiB", growth>>20, limit>>20)
	}
	if elapsed > 2*time.Minute {
		t.Errorf("streaming 64 MiB took %v", elapsed)
	}
}
