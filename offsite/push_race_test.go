package offsite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/faultfs"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

// pausedTarget is a target whose filesystem stops at two moments of a
// push, until the test lets it go on: at the exclusive create of the
// claim file ("claim") and at the rename of the incoming directory onto
// snapshots/ ("rename"). A pause ends with ctx too, failing the operation.
type pausedTarget struct {
	target.Target
	fs      *faultfs.Fs
	reached chan string
	goOn    chan struct{}
}

func pause(ctx context.Context, inner target.Target) *pausedTarget {
	p := &pausedTarget{Target: inner, reached: make(chan string), goOn: make(chan struct{})}
	p.fs = faultfs.New(inner.FS(), faultfs.Options{FailOn: func(op, name string) error {
		base := filepath.Base(name)
		point := ""
		switch {
		case op == "open" && strings.HasPrefix(base, ".incoming-") && strings.HasSuffix(base, ".claim"):
			point = "claim"
		case op == "rename" && strings.HasPrefix(base, ".incoming-"):
			point = "rename"
		}
		if point == "" {
			return nil
		}
		select {
		case p.reached <- point:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-p.goOn:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	return p
}

// FS is the pausing filesystem.
func (p *pausedTarget) FS() afero.Fs { return p.fs }

// pushSigner is an Ed25519 signing key and the allowed_signers that trust it.
func pushSigner(t *testing.T, name string) (ssh.Signer, offsite.Trust) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, offsite.TrustKey(name, s.PublicKey())
}

// Two hosts (two backup directories, each with its own signing key) push
// different snapshots under one stamp to one real SFTP server, forced to
// overlap: both look for a claim before either writes one, then the first
// uploads everything and renames while the second uploads too. On OpenSSH
// the second stops at the claim; on rclone serve sftp, which ignores
// O_EXCL, both believe they hold it. Either way the target ends with one
// host's snapshot, complete and verifying against that host's statement
// (it pulls), the push that reported success is that host's, and the other
// push fails with ErrClaimed (on rclone: ErrStampTaken).
func TestTwoHostsPushOneStampOverSFTP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *sshdtest.Server
	}{{"openssh", sshdtest.Start}, {"rclone", sshdtest.StartRclone}} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			at := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
			type host struct {
				cfg   backup.Config
				key   ssh.Signer
				trust offsite.Trust
				tg    *pausedTarget
				done  chan error
			}
			hosts := make([]*host, 2)
			manifests := map[string]bool{}
			for i := range hosts {
				r := testutil.Root(t)
				cfg := testutil.Config(r)
				cfg.Now = func() time.Time { return at }
				m, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
				if err != nil {
					t.Fatal(err)
				}
				data, err := os.ReadFile(filepath.Join(m.BackupRoot, "manifest.json"))
				if err != nil {
					t.Fatal(err)
				}
				manifests[string(data)] = true
				key, trust := pushSigner(t, []string{"host-a", "host-b"}[i])
				hosts[i] = &host{cfg: testutil.Config(r), key: key, trust: trust, tg: pause(ctx, sftpTarget(t, s, s.Addr)), done: make(chan error, 1)}
			}
			if len(manifests) != 2 {
				t.Fatal("the two hosts' snapshots are the same: the test would prove nothing")
			}
			a, b := hosts[0], hosts[1]
			start := func(h *host) {
				go func() {
					_, err := offsite.Push(ctx, h.cfg, h.tg, offsite.PushOptions{Signer: h.key})
					h.done <- err
				}()
			}
			// next waits for h to reach a pause point ("" when its push ended
			// instead, with its error).
			next := func(h *host) (string, error) {
				select {
				case p := <-h.tg.reached:
					return p, nil
				case err := <-h.done:
					h.done <- err
					return "", err
				case <-ctx.Done():
					t.Fatal("a push neither paused nor ended in time")
				}
				return "", nil
			}
			// end waits for h's push to end.
			end := func(h *host) error {
				select {
				case err := <-h.done:
					return err
				case <-ctx.Done():
					t.Fatal("a push did not end in time")
				}
				return nil
			}
			want := func(h *host, point string) {
				t.Helper()
				if got, err := next(h); got != point {
					t.Fatalf("push stopped at %q (ended: %v), want at %q", got, err, point)
				}
			}
			// Both have looked for another claim and found none.
			start(a)
			want(a, "claim")
			start(b)
			want(b, "claim")
			// A claims, uploads and stops before its rename; B goes on
			// meanwhile: on OpenSSH it is refused its claim, on rclone it
			// uploads as far as its own rename.
			a.tg.goOn <- struct{}{}
			want(a, "rename")
			b.tg.goOn <- struct{}{}
			p, errEarly := next(b)
			bAtRename := p == "rename"
			// The overlap happened: rclone let B upload it all under A's
			// claim; OpenSSH stopped it at the claim.
			if bAtRename != (tc.name == "rclone") {
				t.Fatalf("push B stopped at %q (ended: %v)", p, errEarly)
			}
			a.tg.goOn <- struct{}{}
			errA := end(a)
			if bAtRename {
				b.tg.goOn <- struct{}{}
			}
			errB := end(b)

			if (errA == nil) == (errB == nil) {
				t.Fatalf("push A = %v, push B = %v: want exactly one to fail", errA, errB)
			}
			winner, loserErr := a, errB
			if errA != nil {
				winner, loserErr = b, errA
			}
			if !errors.Is(loserErr, offsite.ErrClaimed) || (tc.name == "rclone" && !errors.Is(loserErr, offsite.ErrStampTaken)) {
				t.Errorf("the failed push: %v, want %v", loserErr, offsite.ErrClaimed)
			}
			tg := sftpTarget(t, s, s.Addr)
			stamp := "20260501T060000Z"
			v, err := offsite.Validate(ctx, tg, stamp, offsite.Opening{Trust: winner.trust})
			if err != nil || !v.Valid || len(v.Warnings) != 0 {
				t.Fatalf("the target's %s against the statement of the push that succeeded: %+v, %v", stamp, v, err)
			}
			fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
			if _, err := offsite.Pull(ctx, fresh, tg, stamp, offsite.Opening{Trust: winner.trust}); err != nil {
				t.Fatalf("pull of the winner's snapshot: %v", err)
			}
			// Nothing of either push is left beside the snapshot: no claim,
			// no incoming directory.
			entries, err := afero.ReadDir(tg.FS(), tg.Root())
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".incoming-") {
					t.Errorf("left on the target: %s", e.Name())
				}
			}
		})
	}
}
