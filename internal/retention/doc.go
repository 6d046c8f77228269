// Package retention decides which backup snapshots to keep and which to remove.
//
// The policy is the one operators set with the prune flags keep-daily,
// keep-weekly and keep-monthly (defaults 7, 4 and 6), evaluated over the valid
// snapshots of one backup location:
//
//   - daily: the newest snapshot of each of the D most recent calendar days
//     that have one;
//   - weekly: the oldest snapshot of each of the W most recent weeks that have
//     one, weeks starting Sunday 00:00 (with daily backups, the Sunday backup);
//   - monthly: the oldest snapshot of each of the M most recent calendar months
//     that have one (with daily backups, the backup of the 1st);
//   - the newest valid snapshot is always kept, whatever the flags;
//   - pre-restore snapshots younger than seven days are always kept: they are
//     the rollback anchors of recent restores;
//   - the snapshot a restore came from ([Item.RestoredAt]) is kept for seven
//     days after that restore (SPEC restore rule 11);
//   - every other valid snapshot is removed;
//   - invalid or incomplete snapshots never fill a slot. They are reported
//     apart, each with its first error, and removing them is the caller's
//     decision (--prune-invalid).
//
// "Most recent" counts back from the newest valid snapshot, not from the
// current time, so a location whose backups stopped a month ago still keeps
// seven daily snapshots. Days, weeks and months are calendar periods in
// [Policy.Location] (UTC by default).
//
// Planning is a pure function: it reads no clock and touches no file, so a dry
// run and a real prune print the same plan. Every kept snapshot carries each
// reason it is kept ("daily 2026-04-07", "weekly 2026-04-05",
// "monthly 2026-04", "newest", "pre-restore younger than 7d", "restored-from"),
// so an operator can see why a snapshot survived:
//
//	plan := retention.Compute(items, retention.DefaultPolicy(), time.Now())
//	fmt.Fprint(os.Stderr, plan.Describe())
//	for _, stamp := range plan.Remove {
//		// delete the snapshot directory named stamp
//	}
package retention
