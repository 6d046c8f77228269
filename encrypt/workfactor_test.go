package encrypt_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/encrypt"
)

// hostileKeyFile is a well-formed, 200-byte age header with one scrypt
// stanza asking for work factor logN: what a target can plant as key.age to
// make every passphrase push and pull spend 2^logN * 1 KiB of memory.
func hostileKeyFile(t *testing.T, logN int) []byte {
	t.Helper()
	b64 := func(n int) string {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return base64.RawStdEncoding.EncodeToString(b)
	}
	var sb strings.Builder
	sb.WriteString("age-encryption.org/v1\n")
	sb.WriteString("-> scrypt " + b64(16) + " " + itoa(logN) + "\n")
	sb.WriteString(b64(32) + "\n")
	sb.WriteString("--- " + b64(32) + "\n")
	nonce := make([]byte, 16+40)
	_, _ = rand.Read(nonce)
	return append([]byte(sb.String()), nonce...)
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// A key file asking for more scrypt work than this tool ever writes is
// refused before any derivation: 2^22 would cost 4 GiB and half a minute
// per push (age's own cap is 22).
func TestKeyFileWorkFactorAboveOursIsRefused(t *testing.T) {
	for _, logN := range []int{encrypt.DefaultWorkFactor + 1, 22} {
		kf := hostileKeyFile(t, logN)
		for name, open := range map[string]func() error{
			"PassphraseDecryptor":   func() error { _, err := encrypt.PassphraseDecryptor([]byte("s3cret"), kf); return err },
			"PassphraseWithKeyFile": func() error { _, err := encrypt.PassphraseWithKeyFile([]byte("s3cret"), kf); return err },
		} {
			start := time.Now()
			err := open()
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("%s, work factor %d: took %v, want refused at once", name, logN, took)
			}
			if !errors.Is(err, encrypt.ErrWorkFactor) || !strings.Contains(err.Error(), itoa(logN)) || !strings.Contains(err.Error(), itoa(encrypt.DefaultWorkFactor)) {
				t.Errorf("%s, work factor %d: err = %v, want ErrWorkFactor naming %d and the cap %d", name, logN, err, logN, encrypt.DefaultWorkFactor)
			}
		}
	}
	// Our own key files, at our own cost, still open.
	p, err := encrypt.Passphrase([]byte("s3cret"), encrypt.WithWorkFactor(10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := encrypt.PassphraseDecryptor([]byte("s3cret"), p.KeyFile()); err != nil {
		t.Fatal(err)
	}
	if _, err := encrypt.Passphrase([]byte("s3cret"), encrypt.WithWorkFactor(encrypt.DefaultWorkFactor+1)); err == nil {
		t.Error("a work factor above the tool's own was accepted for writing: it could not be read back")
	}
}
