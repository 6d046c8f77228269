package encrypt

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// A FileKey makes an encryption repeatable: the age header (a file key
// wrapped for the recipients) and, secret, the file key and payload nonce
// behind it. The same plaintext encrypted under the same FileKey is the
// same bytes, which is what lets an interrupted upload in parts (an S3
// multipart upload) be continued: the parts the server holds are the
// parts the next attempt would send, and are not sent again.
//
// A FileKey is as secret as the plaintext: keep it only where the
// plaintext is (0600, on the machine that makes the backups), only until
// the file's upload is complete, and never use it for another plaintext:
// two plaintexts under one key and nonce share a keystream. Callers check
// the plaintext against its recorded digest before they reuse a FileKey.
type FileKey struct {
	Header []byte // the age header, "age-encryption.org/v1" to the MAC line
	Key    []byte // the 16-byte file key
	Nonce  []byte // the 16-byte payload nonce
}

// KeyedEncryptor is an Encryptor that can make FileKeys for its
// recipients and encrypt under one (Recipients, PassphraseEncryptor).
type KeyedEncryptor interface {
	Encryptor
	NewFileKey() (*FileKey, error)
}

var (
	_ KeyedEncryptor = (*Recipients)(nil)
	_ KeyedEncryptor = (*PassphraseEncryptor)(nil)
)

// NewFileKey draws a file key and payload nonce and wraps the key for
// every recipient (KeyedEncryptor).
func (rs *Recipients) NewFileKey() (*FileKey, error) { return newFileKey(rs.recipients) }

// NewFileKey draws a file key and payload nonce and wraps the key for the
// session identity (KeyedEncryptor).
func (p *PassphraseEncryptor) NewFileKey() (*FileKey, error) {
	return newFileKey([]age.Recipient{p.recipient})
}

const (
	fileKeySize   = 16
	streamNonce   = 16
	chunkSize     = 64 << 10
	lastChunkFlag = 0x01
	headerIntro   = "age-encryption.org/v1\n"
	stanzaColumns = 64
)

var b64 = base64.RawStdEncoding

func newFileKey(recipients []age.Recipient) (*FileKey, error) {
	if len(recipients) == 0 {
		return nil, errors.New("encrypt: no recipients")
	}
	k := &FileKey{Key: make([]byte, fileKeySize), Nonce: make([]byte, streamNonce)}
	_, _ = rand.Read(k.Key)
	_, _ = rand.Read(k.Nonce)
	var hdr bytes.Buffer
	hdr.WriteString(headerIntro)
	for i, r := range recipients {
		if _, ok := r.(age.RecipientWithLabels); ok {
			// Labelled recipients (post-quantum, plugins) set rules on
			// which may be mixed; this package never makes them.
			return nil, fmt.Errorf("encrypt: recipient #%d has labels: %w", i, errors.ErrUnsupported)
		}
		stanzas, err := r.Wrap(k.Key)
		if err != nil {
			return nil, fmt.Errorf("encrypt: wrap the file key for recipient #%d: %w", i, err)
		}
		for _, s := range stanzas {
			if err := writeStanza(&hdr, s); err != nil {
				return nil, err
			}
		}
	}
	hdr.WriteString("---")
	mac := hmac.New(sha256.New, hkdfKey(k.Key, nil, "header"))
	mac.Write(hdr.Bytes())
	hdr.WriteString(" " + b64.EncodeToString(mac.Sum(nil)) + "\n")
	k.Header = hdr.Bytes()
	return k, nil
}

// writeStanza writes s as the age format has it: "-> TYPE ARGS", then the
// body in unpadded base64 wrapped at 64 columns, its last line shorter
// (empty when the body fills the one before).
func writeStanza(w *bytes.Buffer, s *age.Stanza) error {
	for _, a := range append([]string{s.Type}, s.Args...) {
		if !validStanzaString(a) {
			return fmt.Errorf("encrypt: stanza argument %q is not valid in an age header", a)
		}
	}
	w.WriteString("-> " + strings.Join(append([]string{s.Type}, s.Args...), " ") + "\n")
	body := b64.EncodeToString(s.Body)
	for len(body) >= stanzaColumns {
		w.WriteString(body[:stanzaColumns] + "\n")
		body = body[stanzaColumns:]
	}
	w.WriteString(body + "\n")
	return nil
}

func validStanzaString(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

func hkdfKey(secret, salt []byte, info string) []byte {
	key, err := hkdf.Key(sha256.New, secret, salt, info, 32)
	if err != nil {
		panic("encrypt: HKDF: " + err.Error()) // only for lengths out of range
	}
	return key
}

// EncryptWithKey returns a WriteCloser that encrypts what is written to it
// to dst as an age file under k (header, nonce, then 64 KiB chunks): the
// same plaintext under the same k gives the same bytes. Close must be
// called; it does not close dst.
func EncryptWithKey(dst io.Writer, k *FileKey) (io.WriteCloser, error) {
	if len(k.Key) != fileKeySize || len(k.Nonce) != streamNonce || !bytes.HasPrefix(k.Header, []byte(headerIntro)) {
		return nil, errors.New("encrypt: malformed file key")
	}
	aead, err := chacha20poly1305.New(hkdfKey(k.Key, k.Nonce, "payload"))
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(k.Header); err != nil {
		return nil, err
	}
	if _, err := dst.Write(k.Nonce); err != nil {
		return nil, err
	}
	return &keyedWriter{dst: dst, aead: aead, buf: make([]byte, 0, chunkSize), out: make([]byte, 0, chunkSize+chacha20poly1305.Overhead)}, nil
}

// keyedWriter is age's STREAM: each chunk of 64 KiB sealed with the nonce
// counter (11 bytes, big-endian) and a last-chunk flag byte. A full chunk
// is sealed only once more bytes come, so that the last one is flagged.
type keyedWriter struct {
	dst  io.Writer
	aead interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
	}
	nonce   [chacha20poly1305.NonceSize]byte
	buf     []byte
	out     []byte
	err     error
	closed  bool
	counter uint64
}

func (w *keyedWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("encrypt: write after close")
	}
	total := len(p)
	for len(p) > 0 {
		if len(w.buf) == chunkSize {
			if err := w.flush(false); err != nil {
				return 0, err
			}
		}
		n := min(len(p), chunkSize-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
	}
	return total, nil
}

func (w *keyedWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	return w.flush(true)
}

func (w *keyedWriter) flush(last bool) error {
	if w.counter == math.MaxUint64 { // 2^64 chunks of 64 KiB: never, but no wrap
		w.err = errors.New("encrypt: file too large for one age stream")
		return w.err
	}
	var nonce [chacha20poly1305.NonceSize]byte
	c := w.counter
	for i := 10; i >= 0 && c > 0; i-- {
		nonce[i] = byte(c)
		c >>= 8
	}
	if last {
		nonce[11] = lastChunkFlag
	}
	w.out = w.aead.Seal(w.out[:0], nonce[:], w.buf, nil)
	if _, err := w.dst.Write(w.out); err != nil {
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	w.counter++
	return nil
}
