package offsite

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

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
			if _, err := pushRemote(context.Background(), testutil.Config(victim), remote, PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}); err != nil {
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
			if _, err := pushRemote(context.Background(), testutil.Config(attacker), remote, PushOptions{Sealing: Sealing{Recipients: pubRS}, Signer: attackerKey}); err != nil {
				t.Fatal(err)
			}
			list, err := listRemote(context.Background(), remote, trust)
			if err != nil || len(list) != 2 {
				t.Fatalf("list = %+v, %v", list, err)
			}
			if list[0].Signature != SignatureVerified || list[0].SignedBy != "backup@prod" || list[1].Signature == SignatureVerified {
				t.Fatalf("list marks %q and %q", list[0].Signature, list[1].Signature)
			}
			v, err := validateRemote(context.Background(), remote, am.Stamp, Opening{Identities: ids, Trust: trust})
			if err != nil || v.Valid {
				t.Fatalf("remote validate of the forgery = %+v, %v", v, err)
			}
			fresh := freshConfig(t)
			_, err = pullRemote(context.Background(), fresh, remote, am.Stamp, Opening{Identities: ids, Trust: trust})
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
			if _, err := pullRemote(context.Background(), fresh, remote, vm.Stamp, Opening{Identities: ids, Trust: trust}); err != nil {
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
			if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: c.seal, Signer: key}); err != nil {
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
			if _, err := pullRemote(context.Background(), freshConfig(t), remote, newer, open); !errors.Is(err, ErrStampMismatch) {
				t.Fatalf("pull of the replay = %v, want %v", err, ErrStampMismatch)
			}
			v, err := validateRemote(context.Background(), remote, newer, open)
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

// Rollback: a machine that verified sequence N on a target refuses a
// target whose newest signed snapshot is older, unless allowed; a fresh
// machine with no memory cannot tell (docs/offsite.md).
func TestRollbackIsRefused(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	remote := osRemote(t)
	old := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	newest := createAt(t, r, time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC))
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
	if err != nil || len(res.Pushed) != 2 || res.Pushed[0].Sequence != 1 || res.Pushed[1].Sequence != 2 {
		t.Fatalf("push = %+v, %v", res, err)
	}
	dr := freshConfig(t)
	if _, err := pullRemote(context.Background(), dr, remote, newest.Stamp, Opening{Trust: trust}); err != nil {
		t.Fatal(err)
	}
	// The target hides its newest snapshot.
	hidden := filepath.Join(t.TempDir(), "hidden")
	if err := os.Rename(snapshot.Dir(remote.Root, newest.Stamp), hidden); err != nil {
		t.Fatal(err)
	}
	if _, err := pullRemote(context.Background(), dr, remote, old.Stamp, Opening{Trust: trust}); !errors.Is(err, ErrRollback) {
		t.Fatalf("pull from a rolled-back target = %v, want %v", err, ErrRollback)
	}
	allow := trust
	allow.AllowRollback = true
	if _, err := pullRemote(context.Background(), dr, remote, old.Stamp, Opening{Trust: allow}); err != nil {
		t.Fatalf("pull with the rollback allowed: %v", err)
	}
	// A machine without memory cannot see it.
	if _, err := pullRemote(context.Background(), freshConfig(t), remote, old.Stamp, Opening{Trust: trust}); err != nil {
		t.Fatalf("pull on a fresh machine: %v", err)
	}
}

// Each push continues the target's sequence and names the statement
// before it.
func TestStatementsChain(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	remote := osRemote(t)
	a := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	b := createAt(t, r, time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	sa := readSigned(remote.FS, snapshot.Dir(remote.Root, a.Stamp), a.Stamp, trust.Signers)
	sb := readSigned(remote.FS, snapshot.Dir(remote.Root, b.Stamp), b.Stamp, trust.Signers)
	if sa.status != SignatureVerified || sb.status != SignatureVerified {
		t.Fatalf("statuses %s, %s", sa.label(), sb.label())
	}
	if sa.st.Sequence != 1 || sa.st.Previous != "" || sb.st.Sequence != 2 || sb.st.Previous != sa.digest {
		t.Fatalf("chain: %d %q, %d %q (want previous %q)", sa.st.Sequence, sa.st.Previous, sb.st.Sequence, sb.st.Previous, sa.digest)
	}
	if sb.st.Kind != b.Kind || sb.st.CreatedAt != b.CreatedAt || sb.st.ManifestSHA256 == "" || len(sb.st.Files) < 4 {
		t.Fatalf("statement = %+v", sb.st)
	}
}

// Downgrade: a plaintext snapshot where a key to decrypt was given is
// refused (before, it came back encrypted:false, valid:true).
func TestPlaintextDowngradeIsRefused(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	_, ids := keys(t)
	key, trust := signer(t)
	remote := osRemote(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]Opening{
		"identity":   {Identities: ids, Trust: trust},
		"passphrase": {Passphrase: []byte("pw"), Trust: trust},
		"unsigned":   {Identities: ids, Trust: allowUnsigned},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := pullRemote(context.Background(), freshConfig(t), remote, m.Stamp, open); !errors.Is(err, ErrDowngrade) {
				t.Fatalf("pull = %v, want %v", err, ErrDowngrade)
			}
			v, err := validateRemote(context.Background(), remote, m.Stamp, open)
			if err != nil || v.Valid || !hasError(v, CodeDowngrade) {
				t.Fatalf("remote validate = %+v, %v", v, err)
			}
		})
	}
}

// Without trusted signers, pull refuses unless unsigned snapshots are
// allowed; remote list says "unverified".
func TestPullWithoutSignersRefuses(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{})
	key, _ := signer(t)
	remote := osRemote(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := pullRemote(context.Background(), freshConfig(t), remote, m.Stamp, Opening{}); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("pull without signers = %v, want %v", err, ErrNotVerified)
	}
	res, err := pullRemote(context.Background(), freshConfig(t), remote, m.Stamp, Opening{Trust: allowUnsigned})
	if err != nil || res.Signature != SignatureUnsigned || len(res.Warnings) == 0 || !strings.Contains(res.Warnings[len(res.Warnings)-1], "unverified") {
		t.Fatalf("pull allowing unsigned = %+v, %v", res, err)
	}
	list, err := listRemote(context.Background(), remote, Trust{})
	if err != nil || len(list) != 1 || list[0].Signature != SignatureUnverified {
		t.Fatalf("list = %+v, %v", list, err)
	}
	// Unsigned: refused even with signers, unless allowed.
	plain := osRemote(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), plain, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	_, trust := signer(t)
	if _, err := pullRemote(context.Background(), freshConfig(t), plain, m.Stamp, Opening{Trust: trust}); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("pull of an unsigned snapshot = %v, want %v", err, ErrUnsigned)
	}
}

// A target that lost its snapshots (a new disk, a wipe) is refilled; one
// that lost only its newest gets it back; retention's removals are not
// undone; the sequence never goes back.
func TestLostSnapshotsAreRefilled(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	remote := osRemote(t)
	a := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	b := createAt(t, r, time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(remote.Root, snapshot.SnapshotsDir)); err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
	if err != nil || len(res.Pushed) != 2 || len(res.Refilled) != 2 || res.Pushed[0].Sequence != 3 {
		t.Fatalf("push to a wiped target = %+v, %v", res, err)
	}
	if err := os.RemoveAll(snapshot.Dir(remote.Root, b.Stamp)); err != nil {
		t.Fatal(err)
	}
	res, err = pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
	if err != nil || len(res.Pushed) != 1 || res.Pushed[0].Stamp != b.Stamp || len(res.Present) != 1 {
		t.Fatalf("push after the newest was lost = %+v, %v", res, err)
	}
	if err := os.RemoveAll(snapshot.Dir(remote.Root, a.Stamp)); err != nil { // as retention does
		t.Fatal(err)
	}
	res, err = pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
	if err != nil || len(res.Pushed) != 0 || len(res.Pruned) != 1 {
		t.Fatalf("push after retention = %+v, %v", res, err)
	}
	if _, err := pullRemote(context.Background(), testutil.Config(r), remote, b.Stamp, Opening{Trust: trust}); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("pull on the pushing host: %v", err)
	}
	if _, err := pullRemote(context.Background(), freshConfig(t), remote, b.Stamp, Opening{Trust: trust}); err != nil {
		t.Fatal(err)
	}
}

// A snapshot on the target that does not match its statement (a file
// truncated, a signature missing, another host's snapshot under the same
// stamp) is pushed again, replacing it.
func TestDamagedRemoteSnapshotIsRepaired(t *testing.T) {
	r := testutil.Root(t)
	rs, ids := keys(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	for name, damage := range map[string]func(dir string){
		"truncated file": func(dir string) {
			if err := os.Truncate(filepath.Join(dir, "db", "atocore.db.age"), 100); err != nil {
				t.Fatal(err)
			}
		},
		"signature removed": func(dir string) {
			if err := os.Remove(filepath.Join(dir, SignatureFile)); err != nil {
				t.Fatal(err)
			}
		},
		"file removed": func(dir string) {
			if err := os.Remove(filepath.Join(dir, RemoteManifestFile)); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			key, trust := signer(t)
			remote := osRemote(t)
			opts := PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}
			if _, err := pushRemote(context.Background(), testutil.Config(r), remote, opts); err != nil {
				t.Fatal(err)
			}
			damage(snapshot.Dir(remote.Root, m.Stamp))
			res, err := pushRemote(context.Background(), testutil.Config(r), remote, opts)
			if err != nil || len(res.Repaired) != 1 || len(res.Pushed) != 1 || res.Pushed[0].Linked != 0 {
				t.Fatalf("push over a damaged copy = %+v, %v", res, err)
			}
			v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Identities: ids, Trust: trust})
			if err != nil || !v.Valid || len(v.Warnings) != 0 {
				t.Fatalf("remote validate after the repair = %+v, %v", v, err)
			}
			if _, err := os.Stat(filepath.Join(remote.Root, replacedPrefix+m.Stamp)); !os.IsNotExist(err) {
				t.Fatalf("the replaced copy is left: %v", err)
			}
		})
	}
}

// The statement a push writes verifies with the real ssh-keygen, given
// the allowed_signers line docs/offsite.md shows.
func TestStatementVerifiesWithSSHKeygen(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	key, err := sshsig.ReadSigner(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{})
	remote := osRemote(t)
	rs, _ := keys(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}); err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(allowed, []byte(sshsig.Line("backup@prod", SignatureNamespace, key.PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := snapshot.Dir(remote.Root, m.Stamp)
	stmt, err := os.Open(filepath.Join(snap, StatementFile))
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-n", SignatureNamespace, "-f", allowed, "-I", "backup@prod", "-s", filepath.Join(snap, SignatureFile))
	cmd.Stdin = stmt
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v: %s", err, out)
	}
}

// A flipped byte that keeps the file's size passes push's cheap look
// (names and sizes); with Verify push reads the bytes back and repairs it.
func TestVerifiedPushRepairsSameSizeDamage(t *testing.T) {
	r := testutil.Root(t)
	rs, ids := keys(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	key, trust := signer(t)
	remote := osRemote(t)
	opts := PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, opts); err != nil {
		t.Fatal(err)
	}
	testutil.Corrupt(t, filepath.Join(snapshot.Dir(remote.Root, m.Stamp), "db", "atocore.db.age"), 4096, 1)
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, opts)
	if err != nil || len(res.Repaired) != 0 {
		t.Fatalf("push without Verify = %+v, %v: want the cheap look, no repair", res, err)
	}
	opts.Verify = true
	res, err = pushRemote(context.Background(), testutil.Config(r), remote, opts)
	if err != nil || len(res.Repaired) != 1 || !strings.Contains(res.Repaired[0].Reason, "atocore.db.age") {
		t.Fatalf("push with Verify over a flipped byte = %+v, %v", res, err)
	}
	if v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Identities: ids, Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate after the repair = %+v, %v", v, err)
	}
}

// A target cannot make push sign its bytes by planting an "interrupted
// upload": a file encrypted to the public recipients and a journal that
// says it is finished. Push resumes only what this machine recorded, and
// only when the target's bytes hash to what it wrote.
func TestPlantedIncomingIsNotResumed(t *testing.T) {
	r := testutil.Root(t)
	rs, ids := keys(t)
	key, trust := signer(t)
	remote := osRemote(t)
	cfg := testutil.Config(r)
	opts := PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}
	m := testutil.Create(t, r, backup.CreateOptions{})
	incoming := filepath.Join(remote.Root, IncomingPrefix+m.Stamp)
	planted := filepath.Join(incoming, "db", "atocore.db.age")
	if err := os.MkdirAll(filepath.Dir(planted), 0o700); err != nil {
		t.Fatal(err)
	}
	evil := []byte("not what the pusher wrote, whatever it decrypts to")
	if err := os.WriteFile(planted, evil, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(evil)
	jr, _ := json.Marshal(map[string]any{"key_id": "recipients:" + strings.Join(rs.List(), ","),
		"files": map[string]any{"db/atocore.db.age": map[string]any{"path": "db/atocore.db.age", "size": len(evil), "sha256": hex.EncodeToString(sum[:])}}})
	if err := os.WriteFile(filepath.Join(incoming, journalFile), jr, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), cfg, remote, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pushed[0].Resumed != 0 {
		t.Fatalf("push resumed the planted file: %+v", res.Pushed[0])
	}
	v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Identities: ids, Trust: trust})
	if err != nil || !v.Valid {
		t.Fatalf("remote validate = %+v, %v", v, err)
	}
}

// A repair that fails after the damaged copy was set aside puts it back: the
// snapshot is repaired by the next push, not taken for one the target's
// retention removed.
func TestFailedRepairKeepsTheSnapshot(t *testing.T) {
	r := testutil.Root(t)
	rs, _ := keys(t)
	key, _ := signer(t)
	remote := osRemote(t)
	cfg := testutil.Config(r)
	opts := PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}
	first := createAt(t, r, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC))
	createAt(t, r, time.Date(2026, 4, 2, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), cfg, remote, opts); err != nil {
		t.Fatal(err)
	}
	testutil.Corrupt(t, filepath.Join(snapshot.Dir(remote.Root, first.Stamp), SignatureFile), 40, 1)
	claimFile := filepath.Join(remote.Root, IncomingPrefix+first.Stamp+claimSuffix)
	if err := os.WriteFile(claimFile, []byte(`{"holder":"another host","pid":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pushRemote(context.Background(), cfg, remote, opts); err == nil {
		t.Fatal("a push whose repair cannot claim its stamp succeeded")
	}
	if _, err := os.Stat(snapshot.Dir(remote.Root, first.Stamp)); err != nil {
		t.Fatalf("the failed repair left no %s on the target: %v", first.Stamp, err)
	}
	if err := os.Remove(claimFile); err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), cfg, remote, opts)
	if err != nil || len(res.Repaired) != 1 || res.Repaired[0].Stamp != first.Stamp || slices.Contains(res.Pruned, first.Stamp) {
		t.Fatalf("push after the failed repair = %+v, %v", res, err)
	}
}

// A target that strips a signed plaintext snapshot's manifest and grows its
// database cannot make pull write past the signed sizes: with a trusted
// statement, pull copies the statement's files at their signed sizes.
func TestPlaintextPullStopsAtTheSignedSizes(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	remote := osRemote(t)
	m := testutil.Create(t, r, backup.CreateOptions{})
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(remote.Root, m.Stamp)
	if err := os.Remove(filepath.Join(dir, snapshot.ManifestFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "db", "atocore.db"), 300<<20); err != nil {
		t.Fatal(err)
	}
	var written int64
	fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}, FS: countingFs{Fs: afero.NewOsFs(), written: &written}}
	if _, err := pullRemote(context.Background(), fresh, remote, m.Stamp, Opening{Trust: trust}); err == nil {
		t.Fatal("pulled a snapshot whose files differ from the signed statement")
	}
	if limit := m.DBSizeBytes + 4<<20; written > limit {
		t.Fatalf("pull wrote %d bytes locally, more than the signed snapshot (%d)", written, limit)
	}
}

// A target that deletes a snapshot's statement and signature does not make
// it look like one pushed before statements existed: this machine
// remembers it pushed it with a statement, and push repairs it.
func TestDeletedStatementIsRepaired(t *testing.T) {
	r := testutil.Root(t)
	key, trust := signer(t)
	remote := osRemote(t)
	m := testutil.Create(t, r, backup.CreateOptions{})
	opts := PushOptions{Signer: key}
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, opts); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(remote.Root, m.Stamp)
	for _, f := range []string{StatementFile, SignatureFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, opts)
	if err != nil || len(res.Repaired) != 1 || res.Repaired[0].Stamp != m.Stamp {
		t.Fatalf("push after the statement was deleted = %+v, %v", res, err)
	}
	if v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate after the repair = %+v, %v", v, err)
	}
}

// A new signing key does not make the snapshots the old key signed look
// damaged when the old key is still trusted (PushOptions.Trusted, the
// allowed_signers file): push leaves them and sends only the new
// snapshot. Without it the snapshots it signed are sent again once.
func TestRotatedSigningKeyLeavesOldSnapshots(t *testing.T) {
	r := testutil.Root(t)
	oldKey, oldTrust := signer(t)
	newKey, _ := signer(t)
	remote := osRemote(t)
	a := createAt(t, r, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC))
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: oldKey}); err != nil {
		t.Fatal(err)
	}
	b := createAt(t, r, time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC))
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: newKey, Trusted: oldTrust.Signers})
	if err != nil || len(res.Repaired) != 0 || len(res.Pushed) != 1 || res.Pushed[0].Stamp != b.Stamp || !slices.Contains(res.Present, a.Stamp) {
		t.Fatalf("push with a new key, the old one trusted = %+v, %v", res, err)
	}
	if res.Pushed[0].Sequence != 2 {
		t.Errorf("the new key's first statement has sequence %d, want 2 (continuing the old key's)", res.Pushed[0].Sequence)
	}
	// The old key's snapshot is damaged (its own copy of the database, not
	// the one linked into the newer snapshot): it is repaired.
	db := filepath.Join(snapshot.Dir(remote.Root, a.Stamp), snapshot.DBFile)
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: newKey, Trusted: oldTrust.Signers})
	if err != nil || len(res.Repaired) != 1 || res.Repaired[0].Stamp != a.Stamp {
		t.Fatalf("push over the old key's damaged snapshot = %+v, %v", res, err)
	}
	// Without the old key trusted, the snapshots this machine pushed with
	// it are signed by a key it does not trust: taken for replaced on the
	// target, they are sent again once, saying why.
	other := osRemote(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), other, PushOptions{Signer: oldKey}); err != nil {
		t.Fatal(err)
	}
	res, err = pushRemote(context.Background(), testutil.Config(r), other, PushOptions{Signer: newKey})
	if err != nil || len(res.Repaired) != 2 || !strings.Contains(res.Repaired[0].Reason, "not by this host") {
		t.Fatalf("push with a new key, the old one not trusted = %+v, %v", res, err)
	}
}
