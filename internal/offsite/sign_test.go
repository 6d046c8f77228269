package offsite

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

// allowUnsigned reads snapshots pushed without a signing key.
var allowUnsigned = Trust{AllowUnsigned: true}

// signer makes an Ed25519 signing key and the trust of a machine whose
// allowed_signers lists it.
func signer(t testing.TB) (ssh.Signer, Trust) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := sshsig.ParseAllowedSigners([]byte(sshsig.Line("backup@prod", SignatureNamespace, s.PublicKey())))
	if err != nil {
		t.Fatal(err)
	}
	return s, Trust{Signers: a}
}

// createAt takes a snapshot of r stamped at.
func createAt(t *testing.T, r *sample.Root, at time.Time) *backup.Metadata {
	t.Helper()
	cfg := testutil.Config(r)
	cfg.Now = func() time.Time { return at }
	m, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func freshConfig(t *testing.T) backup.Config {
	return backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
}

// The forgery of issue 15: remote-manifest.json publishes the recipient;
// an attacker builds a root of their own, pushes it to the victim's
// recipient under a newer stamp. Before statements, remote list showed
// it newest, remote validate and pull said valid, and restore loaded the
// attacker's rows.
func TestForgeryWithThePublishedRecipientIsRefused(t *testing.T) {
	for _, attackerSigns := range []bool{true, false} {
		t.Run(map[bool]string{true: "attacker signs with own key", false: "attacker does not sign"}[attackerSigns], func(t *testing.T) {
			victim := testutil.Root(t)
			rs, ids := keys(t)
			key, trust := signer(t)
			remote := osRemote(t)
			vm := createAt(t, victim, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
			if _, err := Push(context.Background(), testutil.Config(victim), remote, PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(snapshot.Dir(remote.Root, vm.Stamp), RemoteManifestFile))
			if err != nil {
				t.Fatal(err)
			}
			var published RemoteManifest
			if err := json.Unmarshal(data, &published); err != nil || len(published.Recipients) != 1 {
				t.Fatalf("remote manifest: %v %+v", err, published)
			}
			// The attacker's own root, with a marker row, pushed to the
			// published recipient under a newer stamp.
			attacker := testutil.Root(t)
			if _, err := sample.InsertMemory(context.Background(), attacker.DBPath, sample.Memory{Type: "episodic", Content: "ATTACKER-ROW", Project: "evil"}); err != nil {
				t.Fatal(err)
			}
			am := createAt(t, attacker, time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC))
			pubRS, err := encrypt.ParseRecipients(published.Recipients...)
			if err != nil {
				t.Fatal(err)
			}
			var attackerKey ssh.Signer
			if attackerSigns {
				attackerKey, _ = signer(t)
			}
			if _, err := Push(context.Background(), testutil.Config(attacker), remote, PushOptions{Sealing: Sealing{Recipients: pubRS}, Signer: attackerKey}); err != nil {
				t.Fatal(err)
			}
			list, err := List(context.Background(), remote, trust)
			if err != nil || len(list) != 2 {
				t.Fatalf("list = %+v, %v", list, err)
			}
			if list[0].Signature != SignatureVerified || list[0].SignedBy != "backup@prod" || list[1].Signature == SignatureVerified {
				t.Fatalf("list marks %q and %q", list[0].Signature, list[1].Signature)
			}
			v, err := Validate(context.Background(), remote, am.Stamp, Opening{Identities: ids, Trust: trust})
			if err != nil || v.Valid {
				t.Fatalf("remote validate of the forgery = %+v, %v", v, err)
			}
			fresh := freshConfig(t)
			_, err = Pull(context.Background(), fresh, remote, am.Stamp, Opening{Identities: ids, Trust: trust})
			want := ErrUnsigned
			if attackerSigns {
				want = ErrBadSignature
			}
			if !errors.Is(err, want) {
				t.Fatalf("pull of the forgery = %v, want %v", err, want)
			}
			if _, err := restore.Run(context.Background(), fresh, am.Stamp, restore.Options{ConfirmServiceStopped: true}); err == nil {
				t.Fatal("the forgery restores")
			}
			// The victim's own snapshot still pulls and restores.
			if _, err := Pull(context.Background(), fresh, remote, vm.Stamp, Opening{Identities: ids, Trust: trust}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Replay: a snapshot copied on the target under a newer stamp. Signed,
// the statement names the old stamp; with the statement removed (and
// unsigned snapshots allowed), the encrypted metadata still does, and that
// is an error, not a warning.
func TestReplayUnderANewerStampIsRefused(t *testing.T) {
	r := testutil.Root(t)
	m := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	rs, ids := keys(t)
	newer := "20260601T060000Z"
	for name, c := range map[string]struct {
		seal  Sealing
		open  Opening
		strip bool
	}{
		"signed recipients":     {seal: Sealing{Recipients: rs}, open: Opening{Identities: ids}},
		"unsigned recipients":   {seal: Sealing{Recipients: rs}, open: Opening{Identities: ids}, strip: true},
		"unsigned passphrase":   {seal: Sealing{Passphrase: []byte("pw"), PassphraseOptions: fastScrypt}, open: Opening{Passphrase: []byte("pw")}, strip: true},
		"unsigned plaintext":    {strip: true},
		"signed plaintext copy": {},
	} {
		t.Run(name, func(t *testing.T) {
			key, trust := signer(t)
			remote := osRemote(t)
			if _, err := Push(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: c.seal, Signer: key}); err != nil {
				t.Fatal(err)
			}
			copyTree(t, snapshot.Dir(remote.Root, m.Stamp), snapshot.Dir(remote.Root, newer))
			if c.strip {
				for _, f := range []string{StatementFile, SignatureFile} {
					if err := os.Remove(filepath.Join(snapshot.Dir(remote.Root, newer), f)); err != nil {
						t.Fatal(err)
					}
				}
				trust.AllowUnsigned = true
			}
			open := c.open
			open.Trust = trust
			if _, err := Pull(context.Background(), freshConfig(t), remote, newer, open); !errors.Is(err, ErrStampMismatch) {
				t.Fatalf("pull of the replay = %v, want %v", err, ErrStampMismatch)
			}
			v, err := Validate(context.Background(), remote, newer, open)
			if err != nil || v.Valid || !hasError(v, validate.CodeStampMismatch) {
				t.Fatalf("remote validate of the replay = %+v, %v", v, err)
			}
		})
	}
}

func hasError(v *validate.Result, code string) bool {
	for _, e := range v.Errors {
		if strings.Contains(e, code) {
			return true
		}
	}
	return false
}

var fastScrypt = []encrypt.PassphraseOption{encrypt.WithWorkFactor(10)}
