package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/dirlock"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/retention"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/validate"
)

// Retention types, re-exported: see the retention rules in SPEC.md.
type (
	// Policy is how many daily, weekly and monthly snapshots to keep, and
	// in which time zone days, weeks and months are counted.
	Policy = retention.Policy
	// Plan is what a prune keeps (with reasons), removes, and found invalid.
	Plan = retention.Plan
)

// DefaultPolicy keeps 7 daily, 4 weekly and 6 monthly snapshots, in UTC.
func DefaultPolicy() Policy { return retention.DefaultPolicy() }

// PruneOptions tunes a prune. The zero Policy keeps only the newest valid
// snapshot (and young pre-restore anchors): start from DefaultPolicy.
type PruneOptions struct {
	Policy Policy
	// DryRun computes and returns the plan and changes nothing (and takes
	// no lock).
	DryRun bool
	// PruneInvalid also removes invalid or incomplete snapshots.
	PruneInvalid bool
	// Wait waits for the backup directory's lock instead of failing with ErrBusy.
	Wait bool
	// WaitLimit, with Wait, gives up after this long with an error that
	// matches ErrBusy; 0 waits until ctx ends.
	WaitLimit time.Duration
	// Waiting, with Wait, is called once when the wait begins, with the
	// error (matching ErrBusy) that names the lock's holder.
	Waiting func(busy error)
	// Now is the clock that ages pre-restore anchors and restores
	// (restored-from); nil is the Config's clock (Prune) or time.Now
	// (PruneDir).
	Now func() time.Time
	// Quick judges snapshots by QuickCheck (structure and sizes) instead
	// of the full validation: much cheaper, but a snapshot whose bytes
	// changed and not their sizes then counts as valid.
	Quick bool
	// Check, when set, decides whether the snapshot in dir is valid and
	// what kind it is; the default is a FullCheck (QuickCheck with Quick).
	// Off-site targets holding encrypted snapshots pass their own.
	Check Checker
	// Held, when set, is asked before a snapshot is removed: a reason
	// ("" for none) that the location cannot delete it yet, such as an
	// off-site target's object lock. A held snapshot is kept and listed
	// in PruneResult.Held with the reason.
	Held func(ctx context.Context, fsys afero.Fs, dir, stamp string) (string, error)
	// Needs, when set, lists the snapshots that the snapshot in dir
	// cannot be restored without (an off-site copy whose database is a
	// page delta on an earlier one's). A condemned snapshot that a kept
	// one needs, directly or along a chain, is kept and listed in
	// PruneResult.Held.
	Needs func(ctx context.Context, fsys afero.Fs, dir, stamp string) ([]string, error)
	// Remove, when set, deletes the condemned snapshot in dir instead of
	// the default (a rename out of snapshots/, then the delete): object
	// storage, which renames by copying every byte, passes its own.
	Remove func(fsys afero.Fs, dir string) error
}

// Checker tells a prune whether a snapshot is sound enough to fill a slot.
// Its error is for a check that could not run (the prune stops); a
// snapshot that fails the check is a Verdict with Valid false.
type Checker func(ctx context.Context, fsys afero.Fs, dir, stamp string) (Verdict, error)

// Verdict is a Checker's judgement of one snapshot.
type Verdict struct {
	// Valid says the snapshot may fill a retention slot.
	Valid bool
	// Kind is the snapshot's kind from its metadata, "" when unknown.
	Kind string
	// Error is, for an invalid snapshot, its first error ("code: detail"),
	// which the prune reports (PruneResult.InvalidErrors).
	Error string
	// InProgress says the directory is not a snapshot yet (an upload to
	// object storage whose last file has not arrived): it is left out of
	// the plan, neither kept nor removed.
	InProgress bool
}

// VerdictOf turns the validation result of the snapshot in dir on fsys into
// a Verdict: its validity, kind and first error. Checkers of other
// locations (an off-site target) use it too.
func VerdictOf(res *validate.Result, fsys afero.Fs, dir string) Verdict {
	v := Verdict{Valid: res.Valid, Kind: metadataKind(fsys, dir)}
	if !res.Valid && len(res.Errors) > 0 {
		v.Error = res.Errors[0]
	}
	return v
}

// QuickCheck is the cheap Checker (PruneOptions.Quick): every file present with its manifest
// size, metadata and registry parse, Chroma segments consistent with
// chroma.sqlite3 (validate.Options.Quick); the kind from the metadata.
func QuickCheck(ctx context.Context, fsys afero.Fs, dir, stamp string) (Verdict, error) {
	res, err := validate.Dir(ctx, fsys, dir, stamp, validate.Options{Quick: true})
	if err != nil {
		return Verdict{}, err
	}
	return VerdictOf(res, fsys, dir), nil
}

// FullCheck returns the default Checker of a prune: every check of
// validate (SPEC: retention works over the valid snapshots, and a valid
// snapshot is one that passes every check), made affordable for the many
// snapshots a prune looks at by checking each file's bytes once per
// Checker: a file that is the very inode (same device, inode, size, mtime
// and ctime) of the same path in a snapshot that passed, with the same
// digest in its own manifest, is not read again. Unchanged Chroma files and
// databases are such hardlinks from one snapshot to the next, so each
// distinct copy is hashed and checked once.
func FullCheck() Checker {
	var mu sync.Mutex
	// verified maps a file (its path in the snapshot, as create links
	// only a path to the same path, and its inode state) to the SHA-256
	// its bytes were found to have; databases there also passed
	// integrity_check.
	type verified struct {
		rel string
		st  snapshot.SourceState
	}
	good := map[verified]string{}
	return func(ctx context.Context, fsys afero.Fs, dir, stamp string) (Verdict, error) {
		var files map[string]snapshot.File
		if data, err := afero.ReadFile(fsys, filepath.Join(dir, snapshot.ManifestFile)); err == nil {
			if m, err := snapshot.DecodeManifest(data); err == nil {
				files = m.Index()
			}
		}
		// The states seen before validation: what known looks up, and what
		// a file must still have afterwards to be remembered as verified.
		before := map[string]snapshot.SourceState{}
		for rel := range files {
			if st, ok := inodeState(fsys, filepath.Join(dir, filepath.FromSlash(rel))); ok {
				before[rel] = st
			}
		}
		known := func(rel string) bool {
			st, ok := before[rel]
			if !ok {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			sum, ok := good[verified{rel, st}]
			return ok && sum == files[rel].SHA256
		}
		res, err := validate.Dir(ctx, fsys, dir, stamp, validate.Options{KnownGood: known})
		if err != nil {
			return Verdict{}, err
		}
		if res.Valid {
			mu.Lock()
			for rel, f := range files {
				st, ok := inodeState(fsys, filepath.Join(dir, filepath.FromSlash(rel)))
				// Unchanged while it was read, and not written within the
				// timestamp tick before (a write then could leave no trace).
				if ok && st == before[rel] && settled(&st) {
					good[verified{rel, st}] = f.SHA256
				}
			}
			mu.Unlock()
		}
		return VerdictOf(res, fsys, dir), nil
	}
}

// inodeState identifies a file on an OS filesystem by what any change to
// it moves (size, mtime, ctime) and by its inode.
func inodeState(fsys afero.Fs, name string) (snapshot.SourceState, bool) {
	p, ok := durable.OSPath(fsys, name)
	if !ok {
		return snapshot.SourceState{}, false
	}
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return snapshot.SourceState{}, false
	}
	st := stateOf(fi)
	return st, st.Inode != 0
}

func metadataKind(fsys afero.Fs, dir string) string {
	// Within validation's cap and through no link: a target's (or a
	// damaged disk's) metadata must not hang or exhaust a prune.
	if data, err := durable.ReadFileNoLinks(fsys, dir, snapshot.MetadataFile, validate.MaxMetadataSize); err == nil {
		if m, err := snapshot.DecodeMetadata(data); err == nil {
			return m.Kind
		}
	}
	return ""
}

// PruneResult is the outcome of a prune. Its JSON is the output of
// `atocore-backup prune`: kept, removed (or, in a dry run, to be removed;
// invalid snapshots too when PruneInvalid) and invalid stamps, oldest first,
// and besides these the first error of each invalid snapshot, the copies
// removed from failed/, and warnings.
type PruneResult struct {
	Kept    []string `json:"kept"`
	Removed []string `json:"removed"`
	Invalid []string `json:"invalid"`
	// InvalidErrors maps each stamp of Invalid to its first error.
	InvalidErrors map[string]string `json:"invalid_errors"`
	// FailedRemoved are the copies removed from failed/ (in a dry run, to
	// be removed), oldest first: all but the newest KeepFailed.
	FailedRemoved []string `json:"failed_removed"`
	// Warnings are findings that changed nothing, such as damaged lines of
	// restores.jsonl.
	Warnings []string `json:"warnings"`
	// Held maps each snapshot that the policy condemned and the location
	// would not let go of yet (PruneOptions.Held) to the reason: it is
	// kept (in Kept, not in Removed); a dry run asks too.
	Held   map[string]string `json:"held,omitempty"`
	DryRun bool              `json:"dry_run"`
	// Plan carries the reasons each snapshot is kept.
	Plan Plan `json:"-"`
}

// Prune applies a retention policy to cfg's backup directory.
func Prune(ctx context.Context, cfg Config, opts PruneOptions) (*PruneResult, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		// A mistyped backup directory is not found: pruning it would
		// create it (the lock) and report an empty, successful plan.
		err = cfg.RequireExisting(NeedBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	if opts.Now == nil {
		opts.Now = cfg.Now
	}
	return PruneDir(ctx, cfg.FS, cfg.BackupDir, opts)
}

// PruneDir applies a retention policy to any location that holds
// snapshots/ (the local backup directory, an off-site target). Under the
// location's lock it lists and checks the snapshots, plans, and removes each
// condemned snapshot by first moving it out of snapshots/ (one rename) and
// then deleting it, so that a crash mid-delete never leaves half a snapshot
// under a valid stamp; the next run deletes the leftover. A snapshot named
// in the location's restores.jsonl as restored from within RestoredFromAge
// is kept (restored-from). The copies in failed/ beyond the newest
// KeepFailed are removed the same way.
//
// Snapshot validity here is FullCheck's (each distinct file read once)
// unless opts.Quick or opts.Check says otherwise.
func PruneDir(ctx context.Context, fsys afero.Fs, backupDir string, opts PruneOptions) (*PruneResult, error) {
	if err := opts.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if !opts.DryRun {
		l, err := dirlock.Acquire(ctx, fsys, backupDir, "prune", dirlock.Wait{On: opts.Wait, Limit: opts.WaitLimit, Notify: opts.Waiting})
		if err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
		defer l.Release()
		if err := RemoveLeftovers(fsys, backupDir); err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
		if err := removeOrphanReplicas(fsys, backupDir); err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
	}
	check := opts.Check
	switch {
	case check != nil:
	case opts.Quick:
		check = QuickCheck
	default:
		check = FullCheck()
	}
	plan, warnings, err := planDir(ctx, fsys, backupDir, opts.Policy, now(), check)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	res := &PruneResult{Kept: plan.Kept(), Removed: slices.Clone(plan.Remove), Invalid: plan.Invalid,
		InvalidErrors: plan.InvalidErrors, FailedRemoved: []string{}, Warnings: warnings, DryRun: opts.DryRun, Plan: plan}
	if opts.PruneInvalid {
		res.Removed = append(res.Removed, plan.Invalid...)
		slices.Sort(res.Removed)
	}
	if err := holdBack(ctx, fsys, backupDir, opts, res); err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	if opts.DryRun {
		res.FailedRemoved, err = failedBeyondBound(fsys, backupDir)
		if err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		return res, nil
	}
	invalid := map[string]bool{}
	for _, s := range plan.Invalid {
		invalid[s] = true
	}
	removed := res.Removed[:0:0]
	for _, stamp := range res.Removed {
		// An invalid snapshot is deleted only if it is still invalid when
		// checked again: a transient read error must never cost a good
		// backup. (Valid snapshots condemned by the policy need no recheck.)
		if invalid[stamp] && !stillInvalid(ctx, fsys, backupDir, stamp, check) {
			continue
		}
		rm := removeSnapshot
		if opts.Remove != nil {
			rm = func(fsys afero.Fs, backupDir, stamp string) error {
				if err := opts.Remove(fsys, snapshot.Dir(backupDir, stamp)); err != nil {
					return fmt.Errorf("delete snapshot %s: %w", stamp, err)
				}
				// Its replication chains (object storage: no rename first).
				if err := fsys.RemoveAll(filepath.Join(backupDir, snapshot.ReplicaDir, stamp)); err != nil {
					return fmt.Errorf("delete the replication of %s: %w", stamp, err)
				}
				return nil
			}
		}
		if err := rm(fsys, backupDir, stamp); err != nil {
			res.Removed = removed
			return res, fmt.Errorf("prune: %w", err)
		}
		removed = append(removed, stamp)
	}
	res.Removed = removed
	if res.FailedRemoved, err = pruneFailed(fsys, backupDir); err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	return res, nil
}

// holdBack moves the snapshots of res.Removed that opts.Held holds to
// res.Kept and res.Held.
func holdBack(ctx context.Context, fsys afero.Fs, backupDir string, opts PruneOptions, res *PruneResult) error {
	if err := holdLocked(ctx, fsys, backupDir, opts, res); err != nil {
		return err
	}
	// Then what the snapshots that stay need, those held above included.
	return holdNeeded(ctx, fsys, backupDir, opts, res)
}

// holdLocked moves the snapshots of res.Removed that opts.Held holds to
// res.Kept and res.Held.
func holdLocked(ctx context.Context, fsys afero.Fs, backupDir string, opts PruneOptions, res *PruneResult) error {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	var gone []string
	for _, stamp := range res.Removed {
		why := replicating(fsys, backupDir, stamp, now())
		if why == "" && opts.Held != nil {
			var err error
			if why, err = opts.Held(ctx, fsys, snapshot.Dir(backupDir, stamp), stamp); err != nil {
				return err
			}
		}
		if why == "" {
			gone = append(gone, stamp)
			continue
		}
		if res.Held == nil {
			res.Held = map[string]string{}
		}
		res.Held[stamp] = why
		res.Kept = append(res.Kept, stamp)
	}
	slices.Sort(res.Kept)
	res.Removed = append(res.Removed[:0:0], gone...)
	return nil
}

// holdNeeded moves the snapshots of res.Removed that a snapshot that
// stays needs (opts.Needs), directly or through others, to res.Kept and
// res.Held. The snapshots that stay are the kept ones and the invalid ones
// not removed: an invalid snapshot may be the link between a kept one and
// its base.
func holdNeeded(ctx context.Context, fsys afero.Fs, backupDir string, opts PruneOptions, res *PruneResult) error {
	if opts.Needs == nil || len(res.Removed) == 0 {
		return nil
	}
	condemned := map[string]bool{}
	for _, s := range res.Removed {
		condemned[s] = true
	}
	why := map[string]string{}
	todo := slices.Clone(res.Kept)
	for _, s := range res.Invalid {
		if !condemned[s] {
			todo = append(todo, s)
		}
	}
	for len(todo) > 0 {
		stamp := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		needs, err := opts.Needs(ctx, fsys, snapshot.Dir(backupDir, stamp), stamp)
		if err != nil {
			return err
		}
		for _, n := range needs {
			if condemned[n] {
				delete(condemned, n)
				why[n] = "needed_by: " + stamp + " (its database is a page delta on this snapshot's)"
				todo = append(todo, n)
			}
		}
	}
	if len(why) == 0 {
		return nil
	}
	if res.Held == nil {
		res.Held = map[string]string{}
	}
	var gone []string
	for _, s := range res.Removed {
		if w, ok := why[s]; ok {
			res.Held[s] = w
			res.Kept = append(res.Kept, s)
			continue
		}
		gone = append(gone, s)
	}
	slices.Sort(res.Kept)
	res.Removed = append(res.Removed[:0:0], gone...)
	return nil
}

// PlanDir lists and checks the snapshots of a location with check (nil:
// FullCheck), reads its restores.jsonl, and computes the retention plan.
// It changes nothing. Damaged lines of restores.jsonl are skipped (see
// PruneResult.Warnings); they never fail the plan.
func PlanDir(ctx context.Context, fsys afero.Fs, backupDir string, p Policy, now time.Time, check Checker) (Plan, error) {
	if check == nil {
		check = FullCheck()
	}
	plan, _, err := planDir(ctx, fsys, backupDir, p, now, check)
	return plan, err
}

func planDir(ctx context.Context, fsys afero.Fs, backupDir string, p Policy, now time.Time, check Checker) (Plan, []string, error) {
	snaps, err := ListDir(ctx, fsys, backupDir)
	if err != nil {
		return Plan{}, nil, err
	}
	restored, warnings := readRestores(fsys, backupDir, now)
	items := make([]retention.Item, 0, len(snaps))
	for _, s := range snaps {
		v, err := check(ctx, fsys, s.Path, s.Stamp)
		if err != nil {
			return Plan{}, nil, err
		}
		if v.InProgress {
			continue
		}
		items = append(items, retention.Item{Stamp: s.Stamp, Time: s.Time, Kind: v.Kind, Valid: v.Valid,
			Error: v.Error, RestoredAt: restored[s.Stamp]})
	}
	return retention.Compute(items, p, now), warnings, nil
}

// recheckInvalid is how many more times an invalid snapshot is checked
// before --prune-invalid deletes it.
const recheckInvalid = 2

func stillInvalid(ctx context.Context, fsys afero.Fs, backupDir, stamp string, check Checker) bool {
	for range recheckInvalid {
		v, err := check(ctx, fsys, snapshot.Dir(backupDir, stamp), stamp)
		if err != nil || v.Valid || v.InProgress {
			return false
		}
	}
	return true
}

// removeSnapshot moves snapshots/<stamp> to a trash name (atomic), syncs,
// then deletes the trash.
func removeSnapshot(fsys afero.Fs, backupDir, stamp string) error {
	trash := filepath.Join(backupDir, snapshot.TrashPrefix+stamp)
	if err := fsys.Rename(snapshot.Dir(backupDir, stamp), trash); err != nil {
		return fmt.Errorf("move snapshot %s out of snapshots/: %w", stamp, err)
	}
	if err := durable.SyncDir(fsys, filepath.Join(backupDir, snapshot.SnapshotsDir)); err != nil {
		return err
	}
	if err := fsys.RemoveAll(trash); err != nil {
		return fmt.Errorf("delete %s (already out of snapshots/; the next run retries): %w", trash, err)
	}
	return removeReplicas(fsys, backupDir, stamp)
}
