package target_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

// newCA makes an ed25519 certificate authority with ssh-keygen and returns
// its private key file and its public key line.
func newCA(t *testing.T, name string) (string, string) {
	t.Helper()
	key := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, strings.TrimSpace(string(pub))
}

// A real sshd with a host certificate from `ssh-keygen -s`, and a
// known_hosts file whose only line is @cert-authority: the SFTP target
// connects as OpenSSH's client does, and refuses another CA's certificate,
// a revoked key or CA, and a certificate for another host name.
func TestHostCertificate(t *testing.T) {
	ca, caPub := newCA(t, "ca")
	_, otherPub := newCA(t, "other-ca")
	srv := sshdtest.StartWith(t, sshdtest.Options{HostCertCA: ca, HostCertPrincipals: []string{"127.0.0.1"}})
	wrongName := sshdtest.StartWith(t, sshdtest.Options{HostCertCA: ca, HostCertPrincipals: []string{"backup.example"}})
	hostPub := strings.TrimSpace(string(mustRead(t, srv.KnownHostsFile)))
	hostPub = hostPub[strings.Index(hostPub, " ")+1:] // "ssh-ed25519 AAAA..."

	t.Run("accepted", func(t *testing.T) {
		known := writeKnownHosts(t, "@cert-authority [127.0.0.1]:* "+caPub)
		cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
		cfg.KnownHostsFile = known
		tgt, err := target.DialSFTP(t.Context(), cfg)
		if err != nil {
			t.Fatalf("DialSFTP with @cert-authority: %v", err)
		}
		tgt.Close()
		// OpenSSH's own client accepts the same file.
		sftpBatch(t, srv, known, true)
	})
	refuse := []struct {
		name  string
		srv   *sshdtest.Server
		lines []string
		words []string
		is    error
	}{
		{"other CA", srv, []string{"@cert-authority [127.0.0.1]:* " + otherPub}, []string{"signed by CA", "@cert-authority"}, target.ErrHostKeyMismatch},
		{"CA for another host", srv, []string{"@cert-authority [10.0.0.1]:* " + caPub}, []string{"no @cert-authority line matches"}, target.ErrUnknownHost},
		{"revoked CA", srv, []string{"@cert-authority [127.0.0.1]:* " + caPub, "@revoked * " + caPub}, []string{"@revoked"}, target.ErrHostKeyMismatch},
		{"revoked host key", srv, []string{"@cert-authority [127.0.0.1]:* " + caPub, "@revoked * " + hostPub}, []string{"@revoked"}, target.ErrHostKeyMismatch},
		{"principal mismatch", wrongName, []string{"@cert-authority [127.0.0.1]:* " + caPub}, []string{"principal", "ssh-keygen -s CA -h -n 127.0.0.1"}, target.ErrHostKeyMismatch},
	}
	for _, tc := range refuse {
		t.Run(tc.name, func(t *testing.T) {
			known := writeKnownHosts(t, tc.lines...)
			cfg := sftpConfig(tc.srv, filepath.Join(tc.srv.Dir, "refused"))
			cfg.KnownHostsFile = known
			tgt, err := target.DialSFTP(t.Context(), cfg)
			if err == nil {
				tgt.Close()
				t.Fatal("DialSFTP succeeded")
			}
			var he *target.HostKeyError
			if !errors.As(err, &he) || !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			for _, w := range append(tc.words, tc.srv.Addr, known) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "ssh-keygen -R") {
				t.Errorf("the message recommends replacing a CA with a plain key: %v", err)
			}
			if _, err := os.Stat(cfg.Path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("target directory created on an unverified server: %v", err)
			}
			sftpBatch(t, tc.srv, known, false) // OpenSSH refuses it too
		})
	}
}

// sftpBatch runs OpenSSH's sftp client against srv with known, and checks
// that it connects (or, with ok false, that it refuses).
func sftpBatch(t *testing.T, srv *sshdtest.Server, known string, ok bool) {
	t.Helper()
	batch := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(batch, []byte("pwd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sftp", "-b", batch, "-P", srv.PortString(), "-i", srv.KeyFile,
		"-o", "UserKnownHostsFile="+known, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
		"-o", "IdentitiesOnly=yes", "-F", "/dev/null", srv.User+"@"+srv.Host)
	out, err := cmd.CombinedOutput()
	if ok && err != nil {
		t.Errorf("OpenSSH's sftp refuses what DialSFTP accepts: %v: %s", err, out)
	}
	if !ok && err == nil {
		t.Errorf("OpenSSH's sftp accepts what DialSFTP refuses: %s", out)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRSACA makes an RSA certificate authority with ssh-keygen.
func newRSACA(t *testing.T) (string, string) {
	t.Helper()
	key := filepath.Join(t.TempDir(), "rsa-ca")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "rsa-ca", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	return key, strings.TrimSpace(string(mustRead(t, key+".pub")))
}

// A host certificate signed by an RSA CA with an ssh-rsa (SHA-1)
// signature, made by the real `ssh-keygen -s -t ssh-rsa`, is refused as
// OpenSSH (8.2 and later) refuses it, with a message that says why and how
// to re-sign it; the same CA signing with rsa-sha2-512 is accepted.
func TestHostCertificateSHA1CA(t *testing.T) {
	ca, caPub := newRSACA(t)
	known := writeKnownHosts(t, "@cert-authority [127.0.0.1]:* "+caPub)
	for _, tc := range []struct {
		alg string
		ok  bool
	}{{"rsa-sha2-512", true}, {"ssh-rsa", false}} {
		t.Run(tc.alg, func(t *testing.T) {
			srv := sshdtest.StartWith(t, sshdtest.Options{HostCertCA: ca, HostCertPrincipals: []string{"127.0.0.1"}, HostCertSigAlg: tc.alg})
			cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
			cfg.KnownHostsFile = known
			tgt, err := target.DialSFTP(t.Context(), cfg)
			sftpBatch(t, srv, known, tc.ok) // OpenSSH's client agrees
			if tc.ok {
				if err != nil {
					t.Fatalf("DialSFTP with an rsa-sha2-512 certificate: %v", err)
				}
				tgt.Close()
				return
			}
			if err == nil {
				tgt.Close()
				t.Fatal("DialSFTP accepted a host certificate signed with ssh-rsa (SHA-1)")
			}
			if !errors.Is(err, target.ErrHostKeyMismatch) {
				t.Errorf("err = %v, want ErrHostKeyMismatch", err)
			}
			for _, w := range []string{"SHA-1", "ssh-keygen -s", "-t rsa-sha2-512", "ed25519", srv.Addr} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message is more than one line: %q", err)
			}
		})
	}
}
