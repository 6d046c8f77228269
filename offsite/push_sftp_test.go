package offsite_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

func sftpTarget(t *testing.T, s *sshdtest.Server, addr string) target.Target {
	t.Helper()
	known := s.KnownHostsFile
	if addr != s.Addr { // through a proxy: the same host key under the proxy's address
		known = filepath.Join(t.TempDir(), "known_hosts")
		line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.HostKey)
		if err := os.WriteFile(known, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tg, err := target.DialSFTP(context.Background(), target.SFTPConfig{Addr: addr, User: s.User, Path: path.Join(s.RemoteDir, "offsite"),
		KnownHostsFile: known, KeyFile: s.KeyFile, SSHConfigFile: target.NoSSHConfig, Timeout: 5 * time.Second, KeepAlive: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// Push, remote validate, pull and restore through a real OpenSSH sshd,
// encrypted: the disaster-recovery path from an empty machine.
func TestPushPullOverOpenSSH(t *testing.T) {
	s := sshdtest.Start(t)
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := encrypt.ParseRecipients(rcpt)
	idFile := filepath.Join(t.TempDir(), "id.txt")
	_ = os.WriteFile(idFile, []byte(id+"\n"), 0o600)
	ids, err := encrypt.IdentitiesFromFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	tg := sftpTarget(t, s, s.Addr)
	res, err := offsite.Push(context.Background(), testutil.Config(r), tg, offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}})
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("push = %+v, %v", res, err)
	}
	v, err := offsite.Validate(context.Background(), tg, m.Stamp, offsite.Opening{Identities: ids})
	if err != nil || !v.Valid {
		t.Fatalf("remote validate = %+v, %v", v, err)
	}
	fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
	if _, err := offsite.Pull(context.Background(), fresh, tg, m.Stamp, offsite.Opening{Identities: ids, Trust: offsite.Trust{AllowUnsigned: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(context.Background(), fresh, m.Stamp, restore.Options{ConfirmServiceStopped: true}); err != nil {
		t.Fatal(err)
	}
	if testutil.Fingerprint(t, filepath.Join(fresh.Root, "data", "db", "atocore.db")) != testutil.Fingerprint(t, r.DBPath) {
		t.Fatal("restored content differs")
	}
}

// A connection dropped mid-upload fails the push; the next push completes
// the snapshot without re-sending what was finished.
func TestPushAfterDroppedConnection(t *testing.T) {
	s := sshdtest.Start(t)
	r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{Seed: 2, ChromaBytes: 24 << 20, Segments: 3})
	if err != nil {
		t.Fatal(err)
	}
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	// Cut three quarters in, once the push journal lists a finished file
	// (files are synced and journaled beside the uploads, a little behind).
	proxy := sshdtest.NewProxy(t, s.Addr, (m.DBSizeBytes+m.ChromaBytes)*3/4, sshdtest.Cut)
	proxy.Ready = func() bool { return journaled(filepath.Join(s.Dir, "offsite")) > 0 }
	cut := sftpTarget(t, s, proxy.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := offsite.Push(ctx, testutil.Config(r), cut, offsite.PushOptions{}); err == nil {
		t.Fatal("push through a cut connection succeeded")
	}
	tg := sftpTarget(t, s, s.Addr)
	if list, _ := offsite.List(context.Background(), tg, offsite.Trust{}); len(list) != 0 {
		t.Fatal("the cut push left a snapshot under a valid stamp")
	}
	res, err := offsite.Push(context.Background(), testutil.Config(r), tg, offsite.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pushed[0].Resumed == 0 {
		t.Fatalf("the second push re-sent everything: %+v", res.Pushed[0])
	}
	v, err := offsite.Validate(context.Background(), tg, m.Stamp, offsite.Opening{})
	if err != nil || !v.Valid {
		t.Fatalf("remote validate = %+v, %v", v, err)
	}
}

// journaled counts the files listed in the push journals under root.
func journaled(root string) int {
	paths, _ := filepath.Glob(filepath.Join(root, ".incoming-*", ".push-journal.json"))
	n := 0
	for _, p := range paths {
		var j struct {
			Files map[string]json.RawMessage `json:"files"`
		}
		if data, err := os.ReadFile(p); err == nil && json.Unmarshal(data, &j) == nil {
			n += len(j.Files)
		}
	}
	return n
}

// rclone serve sftp (Debian's 1.60) answers success to hardlink@openssh.com
// and makes nothing. The second push, whose unchanged files would be
// linked, must notice and upload them: every file it records is on the
// target, and the snapshot validates and pulls from there.
func TestPushTwiceToRclone(t *testing.T) {
	s := sshdtest.StartRclone(t)
	r := testutil.Root(t)
	ctx := context.Background()
	testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	tg := sftpTarget(t, s, s.Addr)
	if _, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	second := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	res, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{})
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("second push = %+v, %v", res, err)
	}
	if p := res.Pushed[0]; p.Linked != 0 || p.Sent != p.Files {
		t.Errorf("second push: %d linked, %d of %d sent; want every file sent", p.Linked, p.Sent, p.Files)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.HasPrefix(w, offsite.WarnLinksNotMade) }) {
		t.Errorf("no %s warning: %q", offsite.WarnLinksNotMade, res.Warnings)
	}
	v, err := offsite.Validate(ctx, tg, second.Stamp, offsite.Opening{})
	if err != nil || !v.Valid {
		t.Fatalf("remote validate of the second push = %+v, %v", v, err)
	}
	fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
	if _, err := offsite.Pull(ctx, fresh, tg, second.Stamp, offsite.Opening{Trust: offsite.Trust{AllowUnsigned: true}}); err != nil {
		t.Fatalf("pull of the second push: %v", err)
	}
}

// The claim of a stamp on real SFTP servers. OpenSSH honours O_EXCL
// (SSH_FXF_EXCL); rclone serve sftp (1.60) answers success to an
// exclusive create of an existing file, and to a mkdir or a rename onto an
// existing name, so no primitive of it is atomic. On both, another host's
// claim stops the push (before, on rclone, the exclusive create
// "succeeded" and the push overwrote the claim and went on), and on
// rclone the push says that its claim cannot keep two simultaneous pushes
// apart (WarnClaimNotExclusive).
func TestClaimOnSFTPServers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		start     func(testing.TB) *sshdtest.Server
		exclusive bool
	}{{"openssh", sshdtest.Start, true}, {"rclone", sshdtest.StartRclone, false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(t)
			r := testutil.Root(t)
			ctx := context.Background()
			m := testutil.Create(t, r, backup.CreateOptions{})
			tg := sftpTarget(t, s, s.Addr)
			if err := tg.FS().MkdirAll(tg.Root(), 0o700); err != nil {
				t.Fatal(err)
			}
			claim := path.Join(tg.Root(), ".incoming-"+m.Stamp+".claim")
			if _, err := target.WriteFileFrom(tg.FS(), claim, strings.NewReader(`{"holder":"other-host:/srv/backups","started":"2026-05-01T06:00:00Z"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{}); !errors.Is(err, offsite.ErrClaimed) {
				t.Fatalf("push under another host's claim = %v, want %v", err, offsite.ErrClaimed)
			}
			if err := tg.FS().Remove(claim); err != nil {
				t.Fatal(err)
			}
			res, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{})
			if err != nil || len(res.Pushed) != 1 {
				t.Fatalf("push = %+v, %v", res, err)
			}
			warned := slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.HasPrefix(w, offsite.WarnClaimNotExclusive) })
			if warned == tc.exclusive {
				t.Errorf("warnings %q: want %s only when the server ignores O_EXCL", res.Warnings, offsite.WarnClaimNotExclusive)
			}
		})
	}
}
