package encrypt_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/encrypt"
	"golang.org/x/crypto/ssh"
)

func TestParseRecipientsAccepts(t *testing.T) {
	x, ed, rs := newX25519(t), newSSHEd25519(t), newSSHRSA(t)
	got := mustRecipients(t,
		"# backup recipients",
		"",
		"  "+x.recipient+"  ",
		ed.recipient+"\n"+rs.recipient+"\r", // several lines in one argument, CRLF
		x.recipient, // duplicate, collapsed
	)
	want := []string{x.recipient, ed.recipient, rs.recipient}
	if fmt.Sprint(got.List()) != fmt.Sprint(want) {
		t.Errorf("List() = %q, want %q", got.List(), want)
	}
	if got.Suffix() != encrypt.FileSuffix {
		t.Errorf("Suffix() = %q", got.Suffix())
	}

	path := writeFile(t, t.TempDir(), "recipients.txt", []byte("# ops\n"+x.recipient+"\n\n"+ed.recipient+"\n"))
	fromFile, err := encrypt.RecipientsFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromFile.List()) != 2 {
		t.Errorf("RecipientsFromFile: %q", fromFile.List())
	}
}

func TestParseRecipientsRefuses(t *testing.T) {
	secret, public, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)

	cases := []struct {
		name, line string
		want       []string // substrings of the error
		notWant    string   // must not appear (secret material)
	}{
		{"post-quantum", "age1pq1" + strings.Repeat("q", 60),
			[]string{"recipient line 2", "post-quantum", "Debian's age 1.1", "use an X25519 recipient"}, ""},
		{"secret key", secret,
			[]string{"recipient line 2", "secret key", "not a recipient", public}, secret},
		{"garbage", "hello world",
			[]string{"recipient line 2", `"hello world"`, "expected an age X25519 recipient", "ssh-ed25519"}, ""},
		{"malformed age1", "age1qqqqq",
			[]string{"recipient line 2", "malformed age recipient", "age-keygen"}, ""},
		{"plugin", "age1yubikey1qqqqqqq",
			[]string{"plugin recipient", "age tool alone"}, ""},
		{"private key pasted", "-----BEGIN OPENSSH PRIVATE KEY-----",
			[]string{"private key file", ".pub"}, ""},
		{"ecdsa", sshLine(t, &ec.PublicKey),
			[]string{"ecdsa-sha2-nistp256 is not supported", "ssh-ed25519"}, ""},
		{"rsa 1024", sshLine(t, &weakRSA.PublicKey),
			[]string{"1024 bits", "at least 2048"}, ""},
		{"broken ssh", "ssh-ed25519 AAAAnotbase64!",
			[]string{"malformed SSH public key", ".pub"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := encrypt.ParseRecipients("# first line is a comment", c.line)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if c.notWant != "" && strings.Contains(msg, c.notWant) {
				t.Errorf("error echoes secret material: %q", msg)
			}
		})
	}

	if _, err := encrypt.ParseRecipients("", "# only comments"); err == nil || !strings.Contains(err.Error(), "no recipients") {
		t.Errorf("empty input: err = %v", err)
	}
	path := writeFile(t, t.TempDir(), "recipients.txt", []byte("# ops\n\nnonsense\n"))
	if _, err := encrypt.RecipientsFromFile(path); err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Errorf("file error does not name path:line: %v", err)
	}
}

func TestIdentitiesFromFileRefuses(t *testing.T) {
	dir := t.TempDir()
	secret, public, _ := encrypt.GenerateX25519()
	_, priv, _ := ecdsaKey(t)
	encryptedSSH := func() []byte {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		blk, err := ssh.MarshalPrivateKeyWithPassphrase(k, "c", []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(blk)
	}()

	cases := []struct {
		name    string
		content []byte
		want    []string
	}{
		{"recipient instead of identity", []byte(public + "\n"), []string{":1:", "public key", "not an identity"}},
		{"ssh public key", []byte("# c\n" + newSSHEd25519(t).recipient + "\n"), []string{":2:", "public key"}},
		{"garbage", []byte("\n\nnot a key\n"), []string{":3:", "unrecognized identity line", "not shown"}},
		{"empty", []byte("# nothing\n"), []string{"no identities found"}},
		{"encrypted ssh key", encryptedSSH, []string{"protected by a passphrase", "ssh-keygen -p -N ''"}},
		{"passphrase key file", testPassphrase(t, "pw").KeyFile(), []string{"passphrase-protected age file", "PassphraseDecryptor", "age -d"}},
		{"ecdsa ssh key", priv, []string{"ecdsa-sha2-nistp256 is not supported", "ssh-ed25519"}},
		{"broken pem", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), []string{"malformed SSH private key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "-"), c.content)
			_, err := encrypt.IdentitiesFromFile(path)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error echoes a secret key")
			}
		})
	}
	if _, err := encrypt.IdentitiesFromFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

func ecdsaKey(t *testing.T) (*ecdsa.PrivateKey, []byte, error) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(k, "c")
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(blk), nil
}
