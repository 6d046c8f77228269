package encrypt_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/atocore/atocore-backup/encrypt"
)

func ExampleParseRecipients() {
	rs, err := encrypt.ParseRecipients(
		"# the operators' keys",
		"age1apm388le2mtvf9lhjhf8hjp0rrmhhvh43vc7u78q9qcxwpvsyyks835m2f",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOaRD4J6scsZKNMBB5GqLwTj/pagI2eZngzTYpOh5LlD ops@backup-host",
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs.List() {
		fmt.Println(r)
	}
	fmt.Println("files are named *" + rs.Suffix())
	// Output:
	// age1apm388le2mtvf9lhjhf8hjp0rrmhhvh43vc7u78q9qcxwpvsyyks835m2f
	// ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOaRD4J6scsZKNMBB5GqLwTj/pagI2eZngzTYpOh5LlD ops@backup-host
	// files are named *.age
}

// Mistakes are refused with the line and the fix, and a secret key pasted
// by mistake is not echoed back.
func ExampleParseRecipients_refused() {
	for _, line := range []string{
		"age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
		// A test identity, never use it: its recipient is age1apm388...
		"AGE-SECRET-KEY-1SJCQEQX59WEDUL39MN3R0T60HWYCSVJ0VQN53TAR7U6WYKVQY9RSWXV960",
		"alice@example.com",
	} {
		_, err := encrypt.ParseRecipients(line)
		fmt.Println(err)
	}
	// Output:
	// encrypt: recipient line 1: post-quantum recipient "age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq..." refused: Debian's age 1.1 (any age before 1.3) cannot decrypt files encrypted to it; use an X25519 recipient (age1..., from age-keygen) or an SSH public key
	// encrypt: recipient line 1: this is a secret key (an age identity), not a recipient; give its public recipient instead (age1apm388le2mtvf9lhjhf8hjp0rrmhhvh43vc7u78q9qcxwpvsyyks835m2f) and keep the secret key off this machine
	// encrypt: recipient line 1: unrecognized recipient "alice@example.com": expected an age X25519 recipient (age1..., from age-keygen) or an SSH public key line (ssh-ed25519 AAAA... or ssh-rsa AAAA...)
}

// A round trip: encrypt with the public recipient on the backup host,
// decrypt with the identity file on the restore host (or with
// `age -d -i key.txt atocore.db.age`).
func ExampleIdentitiesFromFile() {
	dir, err := os.MkdirTemp("", "encrypt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	identity, recipient, err := encrypt.GenerateX25519()
	if err != nil {
		log.Fatal(err)
	}
	keyPath := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyPath, []byte(identity+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}

	enc, err := encrypt.ParseRecipients(recipient)
	if err != nil {
		log.Fatal(err)
	}
	var remote bytes.Buffer // the off-site file
	w, err := enc.Encrypt(&remote)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(w, strings.NewReader("snapshot bytes\n"))
	if err := w.Close(); err != nil { // flushes the last chunk
		log.Fatal(err)
	}

	ids, err := encrypt.IdentitiesFromFile(keyPath)
	if err != nil {
		log.Fatal(err)
	}
	plain, err := ids.Decrypt(&remote)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(os.Stdout, plain)
	// Output: snapshot bytes
}

// A passphrase costs one scrypt derivation per push, and the key file
// travels with the snapshot.
func ExamplePassphrase() {
	enc, err := encrypt.Passphrase([]byte("correct horse battery staple"))
	if err != nil {
		log.Fatal(err)
	}
	keyFile := enc.KeyFile() // store as encrypt.KeyFileName beside the snapshot

	var remote bytes.Buffer
	w, _ := enc.Encrypt(&remote) // no scrypt here: as cheap as an X25519 file
	io.WriteString(w, "snapshot bytes\n")
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	// On the restore host: one more scrypt derivation. A wrong passphrase
	// fails here, with an error matching encrypt.ErrWrongPassphrase.
	dec, err := encrypt.PassphraseDecryptor([]byte("correct horse battery staple"), keyFile)
	if err != nil {
		log.Fatal(err)
	}
	plain, err := dec.Decrypt(&remote)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(os.Stdout, plain)
	// Output: snapshot bytes
}

func ExampleGenerateX25519() {
	identity, recipient, err := encrypt.GenerateX25519()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(identity, "AGE-SECRET-KEY-1"), strings.HasPrefix(recipient, "age1"))
	// Output: true true
}
