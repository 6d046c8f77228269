package offsite_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/replica"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/s3test"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

// localTarget is a target directory on this machine; dir is where it is.
func localTarget(t *testing.T) (tg target.Target, dir string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "offsite")
	tg, err := target.Open(context.Background(), "file://"+dir, target.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, dir
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// replicaKeys are the recipient, identity (and its file) of a test.
type replicaKeys struct {
	rs     *encrypt.Recipients
	ids    *encrypt.Identities
	idFile string
}

func newReplicaKeys(t *testing.T) replicaKeys {
	t.Helper()
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := encrypt.ParseRecipients(rcpt)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id.txt")
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := encrypt.IdentitiesFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return replicaKeys{rs, ids, p}
}

// replicateTo runs a replicator with tg as its target while memories are
// written, then lets it ship the last of them; it returns the live
// database's path and the fingerprint it ended with.
func replicateTo(t *testing.T, tg target.Target, opts offsite.ReplicaOptions) (*sample.Root, string) {
	t.Helper()
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	cfg := testutil.Config(r)
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	rep, err := replica.New(cfg, replica.Options{Interval: 100 * time.Millisecond, Targets: []replica.Target{offsite.NewReplicaShipper(cfg, tg, opts)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20 {
			if _, err := sample.InsertMemory(context.Background(), r.DBPath, sample.Memory{Type: "episodic", Content: strings.Repeat("x", 200+i), Project: "p", Confidence: 1}); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	wg.Wait()
	want := testutil.Fingerprint(t, r.DBPath)
	// Until the target holds the last tick after the last write.
	last := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st := rep.Status()
		if len(st.Targets) == 1 && st.Targets[0].Shipped.After(last.Add(200*time.Millisecond)) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := rep.Status()
	if st.Targets[0].Errors != 0 || st.Targets[0].Ships == 0 {
		t.Fatalf("target status %+v", st.Targets[0])
	}
	return r, want
}

// recoverAt is the disaster recovery from the target alone: an empty
// machine pulls what a restore to `at` needs, and restores it.
func recoverAt(t *testing.T, tg target.Target, at time.Time, open offsite.Opening) (backup.Config, *offsite.PullAtResult) {
	t.Helper()
	fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
	res, err := offsite.PullAt(context.Background(), fresh, tg, at, open)
	if err != nil {
		t.Fatal(err)
	}
	rcfg, _ := fresh.Resolved()
	plan, err := replica.PlanAt(context.Background(), rcfg.BackupDir, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(context.Background(), fresh, plan.Window.Base, restore.Options{ConfirmServiceStopped: true, Rebuild: plan.Rebuild}); err != nil {
		t.Fatal(err)
	}
	return rcfg, res
}

// Replication to a target and back, on each kind of target: the chain
// goes encrypted and signed, with its base snapshot pushed first; an
// empty machine lists the window, pulls what a restore to its end needs,
// and restores the database exactly as it was.
func TestReplicationToTargets(t *testing.T) {
	for _, c := range []struct {
		name string
		open func(t *testing.T) target.Target
	}{
		{"local", func(t *testing.T) target.Target { tg, _ := localTarget(t); return tg }},
		{"openssh", func(t *testing.T) target.Target { s := sshdtest.Start(t); return sftpTarget(t, s, s.Addr) }},
		{"s3", func(t *testing.T) target.Target { return s3Target(t, s3test.Start(t), target.Options{Create: true}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := c.open(t)
			k := newReplicaKeys(t)
			key, trust := pushSigner(t, "backup@prod")
			_, want := replicateTo(t, tg, offsite.ReplicaOptions{Sealing: offsite.Sealing{Recipients: k.rs}, Signer: key})
			ws, warnings, err := offsite.ReplicaWindows(context.Background(), tg, trust)
			if err != nil || len(ws) != 1 || len(warnings) != 0 {
				t.Fatalf("windows %+v, warnings %v, %v", ws, warnings, err)
			}
			cfg, res := recoverAt(t, tg, ws[0].To, offsite.Opening{Identities: k.ids, Trust: trust})
			if !res.BasePulled || res.Files == 0 {
				t.Fatalf("pull --at = %+v", res)
			}
			if got := testutil.Fingerprint(t, cfg.DBPath); got != want {
				t.Fatal("the database recovered from the target is not the one replicated")
			}
		})
	}
}

// What the target holds is opened by the real age and applied by
// superfly/ltx's own tool; a segment changed on the target, a statement
// by another key, or no trusted key at all is refused.
func TestReplicationOnTargetIsCheckedAndOpensWithAgeAndLTX(t *testing.T) {
	tg, root := localTarget(t)
	k := newReplicaKeys(t)
	key, trust := pushSigner(t, "backup@prod")
	r, want := replicateTo(t, tg, offsite.ReplicaOptions{Sealing: offsite.Sealing{Recipients: k.rs}, Signer: key})
	ws, _, err := offsite.ReplicaWindows(context.Background(), tg, trust)
	if err != nil || len(ws) != 1 {
		t.Fatalf("windows %+v: %v", ws, err)
	}
	chain := filepath.Join(root, snapshot.ReplicaDir, ws[0].Base, ws[0].Chain)
	segs, _ := filepath.Glob(filepath.Join(chain, "L0", "*.ltx.age"))
	if len(segs) < 2 {
		t.Fatalf("segments on the target: %v", segs)
	}

	// age and ltx, without this tool: the base snapshot's database plus
	// every segment in order is the live database.
	age := testutil.Tool(t, "age")
	ltxTool := testutil.Tool(t, "ltx")
	work := t.TempDir()
	db := filepath.Join(work, "atocore.db")
	cp := exec.Command("cp", filepath.Join(r.BackupDir, "snapshots", ws[0].Base, "db", "atocore.db"), db)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	args := []string{"apply", "-db", db}
	for _, s := range segs { // Glob sorts: 16 hex digits each
		plain := filepath.Join(work, strings.TrimSuffix(filepath.Base(s), ".age"))
		if out, err := exec.Command(age, "-d", "-i", k.idFile, "-o", plain, s).CombinedOutput(); err != nil {
			t.Fatalf("age -d %s: %v: %s", s, err, out)
		}
		args = append(args, plain)
	}
	if out, err := exec.Command(ltxTool, args...).CombinedOutput(); err != nil {
		t.Fatalf("ltx apply: %v: %s", err, out)
	}
	if testutil.Fingerprint(t, db) != want {
		t.Fatal("age -d and ltx apply of the target's chain are not the live database")
	}

	open := offsite.Opening{Identities: k.ids, Trust: trust}
	fresh := func() backup.Config { return backup.Config{Paths: backup.Paths{Root: t.TempDir()}} }
	// No trusted key: refused, as for snapshots.
	if _, err := offsite.PullAt(context.Background(), fresh(), tg, ws[0].To, offsite.Opening{Identities: k.ids}); err == nil {
		t.Fatal("pull --at without trusted signers passed")
	}
	// Statements by another key: no window.
	_, other := pushSigner(t, "intruder")
	if got, refused, _ := offsite.ReplicaWindows(context.Background(), tg, other); len(got) != 0 || len(refused) != 1 || !errors.Is(refused[0], offsite.ErrBadSignature) {
		t.Fatalf("windows under another key: %+v %v", got, refused)
	}
	if _, err := offsite.PullAt(context.Background(), fresh(), tg, ws[0].To, offsite.Opening{Identities: k.ids, Trust: other}); !errors.Is(err, offsite.ErrBadSignature) {
		t.Fatalf("pull --at under another key: %v", err)
	}
	// A segment changed on the target (same size): refused by its digest.
	b, err := os.ReadFile(segs[1])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(segs[1], b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = offsite.PullAt(context.Background(), fresh(), tg, ws[0].To, open)
	if !errors.Is(err, offsite.ErrBadSignature) && !errors.Is(err, encrypt.ErrCorrupt) {
		t.Fatalf("pull --at over a changed segment: %v", err)
	}
	// A time outside the window.
	if _, err := offsite.PullAt(context.Background(), fresh(), tg, ws[0].From.Add(-time.Hour), open); !errors.Is(err, replica.ErrOutsideWindow) {
		t.Fatalf("pull --at before the window: %v", err)
	}
}
