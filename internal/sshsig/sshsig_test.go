package sshsig

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

const ns = "atocore-backup"

// keygen makes an Ed25519 key with the real ssh-keygen and returns the
// private key file and its signer.
func keygen(t *testing.T, dir, name string) (string, ssh.Signer) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is needed (apt-get install openssh-client):", err)
	}
	key := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	s, err := ReadSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, s
}

func writeAllowed(t *testing.T, dir string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Our signatures verify with ssh-keygen -Y verify; a changed message or
// another namespace does not.
func TestSignVerifiesWithSSHKeygen(t *testing.T) {
	dir := t.TempDir()
	_, s := keygen(t, dir, "pusher")
	allowed := writeAllowed(t, dir, Line("backup@prod", ns, s.PublicKey()))
	msg := []byte(`{"stamp":"20260101T000000Z","sequence":1}` + "\n")
	sig, err := Sign(s, ns, msg)
	if err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(dir, "statement.json.sig")
	if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(namespace string, message []byte) error {
		cmd := exec.Command("ssh-keygen", "-Y", "verify", "-n", namespace, "-f", allowed, "-I", "backup@prod", "-s", sigFile)
		cmd.Stdin = bytes.NewReader(message)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}
	if err := verify(ns, msg); err != nil {
		t.Fatalf("ssh-keygen -Y verify refused our signature: %v", err)
	}
	if verify(ns, append([]byte("x"), msg...)) == nil {
		t.Fatal("ssh-keygen accepted our signature over another message")
	}
	if verify("file", msg) == nil {
		t.Fatal("ssh-keygen accepted our signature for another namespace")
	}
}

// Signatures made by ssh-keygen -Y sign verify here, and what must fail
// fails with ErrBadSignature.
func TestSSHKeygenSignaturesVerify(t *testing.T) {
	dir := t.TempDir()
	key, s := keygen(t, dir, "pusher")
	_, other := keygen(t, dir, "attacker")
	msg := []byte("the statement's exact bytes\n")
	file := filepath.Join(dir, "statement.json")
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", ns, "-f", key, file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v: %s", err, out)
	}
	sig, err := os.ReadFile(file + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAllowedSigners([]byte(Line("backup@prod", ns, s.PublicKey())))
	if err != nil {
		t.Fatal(err)
	}
	who, err := a.Verify(sig, ns, msg)
	if err != nil || who != "backup@prod" {
		t.Fatalf("verify = %q, %v", who, err)
	}
	otherOnly, err := ParseAllowedSigners([]byte(Line("mallory", ns, other.PublicKey())))
	if err != nil {
		t.Fatal(err)
	}
	otherNS, err := ParseAllowedSigners([]byte(Line("backup@prod", "git", s.PublicKey())))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(sig)
	flipped[len(flipped)/2] ^= 1
	for name, tc := range map[string]struct {
		a   *AllowedSigners
		sig []byte
		ns  string
		msg []byte
	}{
		"changed message":   {a, sig, ns, append(bytes.Clone(msg), '!')},
		"other namespace":   {a, sig, "git", msg},
		"unknown key":       {otherOnly, sig, ns, msg},
		"namespace refused": {otherNS, sig, ns, msg},
		"damaged armor":     {a, flipped, ns, msg},
		"not a signature":   {a, []byte("hello"), ns, msg},
		"empty":             {a, nil, ns, msg},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := tc.a.Verify(tc.sig, tc.ns, tc.msg); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestParseAllowedSigners(t *testing.T) {
	dir := t.TempDir()
	_, s := keygen(t, dir, "k")
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
	for _, tc := range []struct {
		line, err string
		ns        []string
		who       string
	}{
		{line: "a@b " + key, who: "a@b"},
		{line: "a@b,c@d " + key + " comment here", who: "a@b,c@d"},
		{line: `a@b namespaces="atocore-backup,git" ` + key, ns: []string{"atocore-backup", "git"}, who: "a@b"},
		{line: `"a b" namespaces="x" ` + key, ns: []string{"x"}, who: "a b"},
		{line: "# comment\n\na@b " + key, who: "a@b"},
		{line: "a@b cert-authority " + key, err: "not supported"},
		{line: `a@b valid-after="20200101" ` + key, err: "not supported"},
		{line: "a@b frobnicate " + key, err: "unknown option"},
		{line: "a@b", err: "lacks a key"},
		{line: "a@b ssh-ed25519 AAAAnotbase64", err: "the key"},
		{line: "# only a comment", err: "no signer lines"},
		{line: `"a@b ` + key, err: "unterminated"},
	} {
		a, err := ParseAllowedSigners([]byte(tc.line))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		e := a.entries[0]
		if strings.Join(e.principals, ",") != tc.who || strings.Join(e.namespaces, ",") != strings.Join(tc.ns, ",") {
			t.Errorf("%q: parsed %+v", tc.line, e)
		}
	}
}

func TestReadSignerRefusals(t *testing.T) {
	dir := t.TempDir()
	rsa := filepath.Join(dir, "rsa")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	locked := filepath.Join(dir, "locked")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", locked).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	for path, want := range map[string]string{rsa: "Ed25519", locked: "passphrase", filepath.Join(dir, "none"): "no such file", rsa + ".pub": "signing key"} {
		if _, err := ReadSigner(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadSigner(%s) = %v, want %q", filepath.Base(path), err, want)
		}
	}
}
