package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/replica"
	"github.com/atocore/atocore-backup/target"
)

// metricsEvery is how often replicate rewrites its --metrics-file.
const metricsEvery = 15 * time.Second

func newReplicate(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "replicate",
		Short: "Ship the database's committed changes into the backup directory every second",
		Long: `replicate runs until it is stopped (SIGTERM or SIGINT, then exit 0). Every
--interval it reads what the service committed since the last tick and writes
the changed pages as an LTX segment under BACKUP/replica/<BASE>/<CHAIN>/, on a
chain that starts from a snapshot (the newest valid one; it takes one with
create when there is none, or with --snapshot-every when the newest is older).
restore --at TIME then puts the database back as it was at any second of the
window; list --replication shows the window.

It never writes the live database, never checkpoints it and holds a read
transaction only for the moment of a tick, so the service's own checkpoints
keep the -wal as short as they did. The database must be in WAL mode. Stop
replicate before a restore: it holds the database open.

With --target (repeatable: names of the config file or URLs) each chain also
goes to those targets, encrypted and signed as push does (the same
--recipient, --recipients-file, --passphrase-file and --signing-key), the
base snapshot pushed first; each target keeps its own position, and one that
is down is retried without holding up the ticks or the others. pull --at TIME
brings a restore's worth back onto an empty machine. Without --target the
chains stay in the backup directory.`,
		Example: `  atocore-backup replicate --root /srv/storage/atocore
  atocore-backup replicate --interval 500ms --snapshot-every 24h --metrics-file /var/lib/node_exporter/atocore-backup.prom
  atocore-backup replicate --target offsite --recipients-file /etc/atocore-backup/recipients.txt`,
		Args: cmdline.Args(),
		RunE: a.runs(runReplicate),
		// replicate resolves each target's settings itself.
		Annotations: map[string]string{annotSeveralTargets: "yes"},
	}
	fs := c.Flags()
	fs.StringArrayVar(&a.f.targets, "target", nil, "also ship the chains to this off-site `URL` or target of the config file; repeatable (default: none, the backup directory only)")
	a.f.addReachFlags(fs)
	fs.StringArrayVar(&a.f.recipients, "recipient", nil, "an age `RECIPIENT` to encrypt for, as push; repeatable")
	fs.StringVar(&a.f.recipientsFile, "recipients-file", "", "a `FILE` of age recipients, one a line")
	fs.StringVar(&a.f.passphraseFile, "passphrase-file", "", "encrypt with the passphrase on the first line of `FILE` (one scrypt per chain)")
	fs.StringVar(&a.f.signingKey, "signing-key", "", "the Ed25519 OpenSSH private key `FILE` that signs the statements (env ATOCORE_SIGNING_KEY; default: --ssh-key when Ed25519)")
	fs.BoolVar(&a.f.allowUnsigned, "allow-unsigned", false, "ship without signing (env ATOCORE_ALLOW_UNSIGNED=1; not recommended)")
	fs.DurationVar(&a.f.interval, "interval", replica.DefaultInterval, "time between two ticks: at most this much is lost with the machine")
	fs.DurationVar(&a.f.snapshotEvery, "snapshot-every", 0, "take a snapshot and start a new chain when the newest valid snapshot is older than `DURATION` (default: only when there is none)")
	return c
}

func runReplicate(ctx context.Context, a *app) int {
	if a.f.interval < 10*time.Millisecond {
		return a.fail(exitUsage, fmt.Errorf("--interval %s is below 10ms; use 1s (the default) or a few hundred milliseconds", a.f.interval))
	}
	if a.f.snapshotEvery < 0 {
		return a.fail(exitUsage, fmt.Errorf("--snapshot-every %s is negative; use a duration such as 24h, or leave it out", a.f.snapshotEvery))
	}
	shippers, err := a.replicaTargets()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	targets := make([]replica.Target, len(shippers))
	for i, s := range shippers {
		s.cfg = cfg
		targets[i] = s
		defer s.close()
	}
	rep, err := replica.New(cfg, replica.Options{Interval: a.f.interval, SnapshotEvery: a.f.snapshotEvery, Targets: targets})
	if err != nil {
		return a.fail(exitFailed, err)
	}
	a.say("replicating %s into %s every %s; stop with SIGTERM", cfg.DBPath, replica.Dir(cfg.BackupDir), a.f.interval)
	for _, s := range shippers {
		a.say("and to %s", label(s.p.name, s.p.url))
	}
	stopMetrics := a.metricsLoop(ctx, rep)
	err = rep.Run(ctx)
	stopMetrics()
	st := rep.Status()
	if err != nil {
		if errors.Is(err, replica.ErrNotWAL) {
			return a.fail(exitUsage, err)
		}
		return a.fail(exitFailed, err)
	}
	a.result(st, fmt.Sprintf("replicate stopped: chain %s on %s at TXID %d, %d segment(s), %d tick(s), %d error(s)",
		st.Chain, st.Base, st.TXID, st.Segments, st.Ticks, st.Errors))
	return exitOK
}

// metricsLoop rewrites the metrics file every metricsEvery while
// replicate runs (the command's own write happens at its end).
func (a *app) metricsLoop(ctx context.Context, rep *replica.Replicator) func() {
	file := a.metricsFile()
	if file == "" {
		return func() {}
	}
	cfg, err := a.config()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(metricsEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := metrics.WriteTextfile(ctx, file, cfg, a.results); err != nil {
					a.say("atocore-backup replicate: writing the metrics file %s: %s", file, oneLine(err.Error()))
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// replicaTargets checks the settings of every --target before anything
// starts (a usage error in one refuses the run) and returns a shipper per
// target, which dials it at its first use.
func (a *app) replicaTargets() ([]*lazyShipper, error) {
	base := *a.f
	defer func() { *a.f = base }()
	var out []*lazyShipper
	seen := map[string]bool{}
	for _, n := range base.targets {
		*a.f = base
		a.f.target, a.f.targetName = n, ""
		p, err := a.preparePush()
		if err != nil {
			lbl := n
			if p.name != "" {
				lbl = label(p.name, p.raw)
			}
			return nil, fmt.Errorf("target %s: %w", lbl, err)
		}
		if !seen[p.url] {
			seen[p.url] = true
			out = append(out, &lazyShipper{p: p})
		}
	}
	return out, nil
}

// lazyShipper is a replica.Target that opens its target at the first
// ship, and again after a failure (an SFTP connection that dropped).
type lazyShipper struct {
	p   onePush
	cfg backup.Config
	t   target.Target
	s   *offsite.ReplicaShipper
}

func (l *lazyShipper) Name() string { return l.p.url }

func (l *lazyShipper) Ship(ctx context.Context, dir string, seen time.Time) error {
	if l.s == nil {
		t, err := target.Open(ctx, l.p.raw, l.p.open)
		if err != nil {
			return err
		}
		l.t = t
		l.s = offsite.NewReplicaShipper(l.cfg, t, offsite.ReplicaOptions{Sealing: l.p.opts.Sealing, Signer: l.p.opts.Signer, Push: l.p.opts})
	}
	err := l.s.Ship(ctx, dir, seen)
	if err != nil {
		l.close()
	}
	return err
}

func (l *lazyShipper) close() {
	if l.t != nil {
		l.t.Close()
	}
	l.t, l.s = nil, nil
}
