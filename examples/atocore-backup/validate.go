package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/validate"
)

func newValidate(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "validate STAMP|latest",
		Short: "Check one snapshot: integrity_check, digests, registry, Chroma",
		Long: `validate checks every file of one snapshot against its manifest, runs
PRAGMA integrity_check on its databases and checks the registry and the Chroma
index files. Exit 0 when valid, 1 when invalid, 10 when the stamp does not
exist. "latest" validates the newest snapshot that passes, and the result names
its stamp. It reads only.`,
		Example: `  atocore-backup validate 20260407T060000Z
  atocore-backup validate latest --json | jq .stamp   # jq: a JSON tool, installed separately`,
		Args: cmdline.Args("STAMP"),
		RunE: a.runs(runValidate),
	}
}

func runValidate(ctx context.Context, a *app) int {
	if a.f.args[0] != latest { // a malformed stamp is refused before any path is looked at
		if _, code, ok := a.stampArg(); !ok {
			return code
		}
	}
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	var res *validate.Result
	ctx, done := a.withBar(ctx, "validating")
	defer done()
	if a.f.args[0] == latest {
		r, err := backup.NewestValid(ctx, cfg)
		if err != nil {
			return a.fail(exitFailed, err)
		}
		res = r
	} else {
		r, err := validate.Snapshot(ctx, cfg.FS, cfg.BackupDir, a.f.args[0]) // checked above
		if err != nil {
			return a.fail(exitFailed, err)
		}
		res = r
	}
	done()
	a.results.RecordValidation(time.Now(), res.Valid)
	if !res.Valid && slices.ContainsFunc(res.Errors, func(e string) bool { return strings.HasPrefix(e, validate.CodeSnapshotMissing) }) {
		if a.jsonOut() {
			a.printJSON(res)
		}
		return a.fail(exitNotFound, fmt.Errorf("snapshot %s does not exist in %s; run list to see the snapshots there", res.Stamp, cfg.BackupDir))
	}
	if !res.Valid {
		a.result(res, "snapshot "+res.Stamp+" is INVALID: "+strings.Join(res.Errors, "; "))
		return exitFailed
	}
	summary := "snapshot " + res.Stamp + " is valid"
	for _, w := range res.Warnings {
		summary += "\nwarning: " + w
	}
	a.result(res, summary)
	return exitOK
}

// resolveStamp is the STAMP argument of a command that acts on one
// snapshot: a well-formed stamp, or "latest" resolved to the newest valid
// snapshot (said on stderr).
func (a *app) resolveStamp(ctx context.Context, cfg backup.Config) (string, int, bool) {
	if a.f.args[0] != latest {
		return a.stampArg()
	}
	res, err := backup.NewestValid(ctx, cfg)
	if err != nil {
		return "", a.fail(exitFailed, err), false
	}
	a.say("latest is %s", res.Stamp)
	return res.Stamp, 0, true
}
