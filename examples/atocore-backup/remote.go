package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
)

// latest is the word for the newest valid snapshot.
const latest = backup.Latest

func newRemote(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "remote list|validate|prune --target URL",
		Short: "List, validate or prune the snapshots on an off-site target",
		Long: `remote list, remote validate and remote prune work on the target without
copying anything here. list and validate check each statement against
--allowed-signers and the sequence against this machine's memory (and record
it); they create nothing on the target.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown remote subcommand %q: use list, validate STAMP or prune", args[0])
			}
			return nil
		},
		RunE: a.runs(func(ctx context.Context, a *app) int {
			return a.fail(exitUsage, errors.New("remote needs a subcommand: list, validate STAMP or prune"))
		}),
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the target's snapshots and whether each statement verifies",
		Args:  cmdline.Args(),
		RunE:  a.runs(runRemoteList),
	}
	a.f.addTargetFlags(list.Flags())
	a.f.addTrustFlags(list.Flags())
	list.Flags().BoolVar(&a.f.replication, "replication", false, "list the replication chains on the target and their windows (what pull --at can reach) instead of the snapshots")
	val := &cobra.Command{
		Use:   "validate STAMP|latest",
		Short: "Check a remote snapshot's statement and every byte; decrypt and validate with the identity",
		Long: `remote validate checks the snapshot's signed statement and every remote file's
size and digest against it; with --age-identity or --passphrase-file it also
decrypts the snapshot into a scratch directory and validates it as validate
does. "latest" is the newest remote snapshot whose statement verifies.
With --quick it reads no file: the checksums an s3:// target stores for
each file are compared with the signed statement (a target without
stored checksums is refused).`,
		Args: cmdline.Args("STAMP"),
		RunE: a.runs(runRemoteValidate),
	}
	val.Flags().BoolVar(&a.f.quick, "quick", false, "compare the target's stored checksums with the signed statement, downloading nothing (s3:// targets)")
	a.f.addTargetFlags(val.Flags())
	a.f.addOpeningFlags(val.Flags())
	a.f.addTrustFlags(val.Flags())
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Apply the retention policy on the target",
		Args:  cmdline.Args(),
		RunE:  a.runs(runRemotePrune),
	}
	a.f.addTargetFlags(prune.Flags())
	a.f.addPolicyFlags(prune.Flags())
	prune.Flags().BoolVar(&a.f.dryRun, "dry-run", false, "print the plan and change nothing")
	prune.Flags().BoolVar(&a.f.pruneInvalid, "prune-invalid", false, "also remove snapshots that fail their check")
	c.AddCommand(list, val, prune)
	return c
}

func runRemoteList(ctx context.Context, a *app) int {
	trust, err := a.trust()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	trust.Memory = a.memory()
	t, code, ok := a.openTarget(ctx, false)
	if !ok {
		return code
	}
	defer t.Close()
	if a.f.replication {
		return remoteListReplication(ctx, a, t, trust)
	}
	snaps, err := offsite.List(ctx, t, trust)
	if err != nil {
		return a.fail(exitFailed, err)
	}
	rows := make([]string, 0, len(snaps))
	for _, s := range snaps {
		enc := "no"
		if s.Encrypted {
			enc = "yes"
		}
		seq := "-"
		if s.Sequence > 0 {
			seq = fmt.Sprint(s.Sequence)
		}
		rows = append(rows, cells(s.Stamp, s.Kind, s.CreatedAt, enc, seq, s.Signature))
	}
	a.resultTable(struct {
		Target  string                   `json:"target"`
		Backups []offsite.RemoteSnapshot `json:"backups"`
	}{t.URL(), snaps}, cells("STAMP", "KIND", "CREATED", "ENCRYPTED", "SEQUENCE", "SIGNATURE"), rows,
		fmt.Sprintf("%d snapshot(s) on %s", len(snaps), t.URL()))
	return exitOK
}

func runRemoteValidate(ctx context.Context, a *app) int {
	t, open, stamp, code, ok := a.remoteSnapshot(ctx, true)
	if !ok {
		return code
	}
	defer t.Close()
	validate := offsite.Validate
	if a.f.quick {
		validate = offsite.ValidateQuick
	}
	bctx, done := a.withBar(ctx, "validating "+stamp+" on the target")
	res, err := validate(bctx, t, stamp, open)
	done()
	if errors.Is(err, offsite.ErrNoStoredChecksums) {
		return a.fail(exitUsage, err)
	}
	if err != nil {
		return a.fail(exitFailed, err)
	}
	if !res.Valid {
		a.result(res, fmt.Sprintf("remote snapshot %s is INVALID: %s", res.Stamp, strings.Join(res.Errors, "; ")))
		return exitFailed
	}
	a.result(res, fmt.Sprintf("remote snapshot %s on %s is valid", res.Stamp, t.URL()))
	return exitOK
}

func runRemotePrune(ctx context.Context, a *app) int {
	p, err := a.policy()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	t, code, ok := a.openTarget(ctx, false)
	if !ok {
		return code
	}
	defer t.Close()
	res, err := offsite.Prune(ctx, t, backup.PruneOptions{Policy: p, DryRun: a.f.dryRun, PruneInvalid: a.f.pruneInvalid})
	if err != nil {
		return a.fail(exitFailed, err)
	}
	summary := strings.TrimSuffix(res.Plan.Describe(), "\n")
	for _, stamp := range slices.Sorted(maps.Keys(res.Held)) {
		summary += "\nheld " + stamp + ": " + res.Held[stamp] + "; kept until then"
	}
	if a.f.dryRun {
		summary += "\ndry run: nothing was changed"
	}
	a.result(res, strings.TrimPrefix(summary, "\n"))
	return exitOK
}

// remoteStamp is the STAMP argument of a command on a target: the stamp
// as given, or for "latest" the newest remote snapshot whose statement
// does not fail to verify (pull and remote validate then check it fully).
func (a *app) remoteStamp(ctx context.Context, t target.Target, trust offsite.Trust) (string, int, bool) {
	if a.f.args[0] != latest {
		return a.f.args[0], 0, true
	}
	trust.Memory = nil // the command itself checks and records the sequence
	snaps, err := offsite.List(ctx, t, trust)
	if err != nil {
		return "", a.fail(exitFailed, err), false
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if !strings.HasPrefix(snaps[i].Signature, "bad") {
			a.say("latest on %s is %s", t.URL(), snaps[i].Stamp)
			return snaps[i].Stamp, 0, true
		}
	}
	return "", a.fail(exitFailed, &backup.NotFoundError{What: backup.WhatSnapshot, Path: t.URL() + " (no snapshot there verifies, for \"latest\" to name)"}), false
}

// remoteListReplication prints the chains on t whose statements trust
// accepts; each refused one is a warning on stderr.
func remoteListReplication(ctx context.Context, a *app, t target.Target, trust offsite.Trust) int {
	ws, refused, err := offsite.ReplicaWindows(ctx, t, trust)
	if err != nil {
		return a.fail(exitFailed, err)
	}
	for _, r := range refused {
		a.say("warning: %s", oneLine(signatureHint(r).Error()))
	}
	if ws == nil {
		ws = []offsite.RemoteWindow{}
	}
	rows := make([]string, 0, len(ws))
	for _, w := range ws {
		rows = append(rows, cells(w.Base, w.Chain, w.From.Format(time.RFC3339), w.To.Format(time.RFC3339), fmt.Sprint(w.TXID), w.Signer))
	}
	a.resultTable(struct {
		Target string                 `json:"target"`
		Chains []offsite.RemoteWindow `json:"chains"`
	}{t.URL(), ws}, cells("BASE", "CHAIN", "FROM", "TO", "TXID", "SIGNED BY"), rows,
		fmt.Sprintf("%d chain(s) on %s", len(ws), t.URL()))
	return exitOK
}
