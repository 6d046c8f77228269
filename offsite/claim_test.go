package offsite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// Another host's claim on a stamp stops the push before it writes
// anything; a claim this backup directory left (a push that died) is
// taken over; a finished push leaves no claim.
func TestClaimKeepsOtherHostsOut(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{})
	key, trust := signer(t)
	remote := osRemote(t)
	claimFile := filepath.Join(remote.Root, IncomingPrefix+m.Stamp+claimSuffix)
	if err := os.WriteFile(claimFile, []byte(`{"holder":"other-host:/srv/backups","started":"2026-05-01T06:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
	if !errors.Is(err, ErrClaimed) {
		t.Fatalf("push under another host's claim = %v, want %v", err, ErrClaimed)
	}
	if dirs, _ := filepath.Glob(filepath.Join(remote.Root, IncomingPrefix+m.Stamp+".*")); len(dirs) != 1 {
		t.Fatalf("the refused push made its incoming directory: %v", dirs)
	}
	cfg := testutil.Config(r)
	cfg, _ = cfg.Resolved()
	if err := os.WriteFile(claimFile, []byte(`{"holder":"`+claimHolder(cfg.BackupDir)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pushRemote(context.Background(), cfg, remote, PushOptions{Signer: key}); err != nil {
		t.Fatalf("push over its own stale claim: %v", err)
	}
	if _, err := os.Stat(claimFile); !os.IsNotExist(err) {
		t.Fatalf("the claim is left after the push: %v", err)
	}
	if v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("validate = %+v, %v", v, err)
	}
}

// Two hosts push different snapshots under one stamp at once: the target
// ends up with one of them whole, never files of both.
func TestTwoHostsPushingOneStampDoNotInterleave(t *testing.T) {
	at := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
	remote := osRemote(t)
	type host struct {
		cfg      backup.Config
		manifest string
	}
	var hosts []host
	keyA, trustA := signer(t)
	keyB, trustB := signer(t)
	for range 2 {
		r := testutil.Root(t)
		m := createAt(t, r, at)
		cfg, _ := testutil.Config(r).Resolved()
		d, err := durable.HashFile(context.Background(), cfg.FS, filepath.Join(snapshot.Dir(cfg.BackupDir, m.Stamp), snapshot.ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, host{cfg: cfg, manifest: d.SHA256})
	}
	if hosts[0].manifest == hosts[1].manifest {
		t.Fatal("the two snapshots are the same: the test would prove nothing")
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, k := range []ssh.Signer{keyA, keyB} {
		wg.Go(func() {
			opts := PushOptions{Signer: k}
			_, errs[i] = pushRemote(context.Background(), hosts[i].cfg, remote, opts)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok == 0 {
		t.Fatalf("both pushes failed: %v", errs)
	}
	stamp := snapshot.FormatStamp(at)
	var winner Trust
	for _, tr := range []Trust{trustA, trustB} {
		if v, err := validateRemote(context.Background(), remote, stamp, Opening{Trust: tr}); err == nil && v.Valid && len(v.Warnings) == 0 {
			winner = tr
		}
	}
	if winner.Signers == nil {
		t.Fatalf("the target's snapshot verifies for neither host (errors %v)", errs)
	}
	sg := readSigned(remote.FS, snapshot.Dir(remote.Root, stamp), stamp, winner.Signers)
	if sg.st.ManifestSHA256 != hosts[0].manifest && sg.st.ManifestSHA256 != hosts[1].manifest {
		t.Fatal("the statement is for neither snapshot")
	}
}

// A push killed after it placed its snapshot and before it released the
// claim leaves the claim beside a finished snapshot, which the next push
// leaves as it is: that push removes this host's stale claim (another
// host's it leaves alone). Found by reliability's TestCrashPush.
func TestPushRemovesItsClaimOfAPlacedSnapshot(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{})
	key, _ := signer(t)
	remote := osRemote(t)
	cfg, _ := testutil.Config(r).Resolved()
	if _, err := pushRemote(context.Background(), cfg, remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(remote.Root, IncomingPrefix+m.Stamp+claimSuffix)
	if err := os.WriteFile(own, []byte(`{"holder":"`+claimHolder(cfg.BackupDir)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(remote.Root, IncomingPrefix+"20260101T000000Z"+claimSuffix)
	if err := os.WriteFile(other, []byte(`{"holder":"other-host:/srv/backups"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), cfg, remote, PushOptions{Signer: key})
	if err != nil || len(res.Present) != 1 {
		t.Fatalf("push again = %+v, %v", res, err)
	}
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Fatalf("this host's claim of a placed snapshot is left: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("another host's claim was removed: %v", err)
	}
}
