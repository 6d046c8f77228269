package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// phase runs one phase of one run in a fresh scratch directory, with
// fresh tools, and removes what it made.
func (b *bench) phase(ctx context.Context, size, run int, name string, root atocoreRoot, order []string,
	body func(context.Context, *runEnv, []string, map[string]tool, int)) {
	e := &runEnv{
		root: root, dir: filepath.Join(b.work, fmt.Sprintf("%s-r%d-%s", root.label(), run+1, name)),
		ours: b.bins.ours, net: b.net, s3: b.s3, r: b.r, label: fmt.Sprintf("%s-r%d", root.label(), run+1),
	}
	clean := func() {
		_ = os.RemoveAll(e.dir)
		_ = os.RemoveAll(root.backups())
		if e.s3 != nil {
			for _, t := range order {
				_ = os.RemoveAll(e.s3.bucketDir(bucketName(e.label, t)))
			}
		}
	}
	clean()
	defer clean()
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		b.say("%s phase of run %d: %v", name, run+1, err)
		return
	}
	tools := map[string]tool{}
	for _, t := range order {
		tools[t] = newTool(t, e)
	}
	if err := warm(ctx, root.sources()...); err != nil {
		b.say("%v", err)
	}
	body(ctx, e, order, tools, run)
}

// localOps is the local phase: full, change, incremental, check, restore.
func (b *bench) localOps(ctx context.Context, e *runEnv, order []string, tools map[string]tool, run int) {
	broken := map[string]string{}
	b.round(ctx, e, opFull, order, tools, broken, run)
	if b.selected(opIncr) {
		b.change(ctx, e, int64(2*run+1))
		b.round(ctx, e, opIncr, order, tools, broken, run)
	}
	for _, o := range []op{opCheck, opRestore} {
		if b.selected(o) {
			b.round(ctx, e, o, order, tools, broken, run)
		}
	}
}

// copiesOfOurs are the tools that copy ours' snapshot directory instead
// of reading the root: without ours' snapshots they cannot run.
var copiesOfOurs = []string{"rsync", "rclone"}

// pushOps is a push phase, to the SSH server (push-full, push-incremental)
// or to the S3 server (push-s3-full, push-s3-incremental). ours'
// snapshots (made untimed) are the source of ours' push and of rsync and
// rclone; restic and borg back up the root into their remote
// repositories. The S3 phase also records what changed between the two
// snapshots, the measure of an incremental's bytes.
func (b *bench) pushOps(full, incr op) func(context.Context, *runEnv, []string, map[string]tool, int) {
	return func(ctx context.Context, e *runEnv, order []string, tools map[string]tool, run int) {
		broken := map[string]string{}
		ours := tools[toolOurs].(*oursTool)
		fail := func(why string, err error) {
			b.say("FAILED: %v", err)
			broken[toolOurs] = why
			for _, t := range copiesOfOurs {
				broken[t] = why
			}
		}
		if err := ours.snapshot(ctx, "ours-snapshot-for-"+string(full)); err != nil {
			fail("ours' snapshot to push failed", err)
		}
		b.round(ctx, e, full, order, tools, broken, run)
		if !b.selected(incr) {
			return
		}
		// Each push phase changes the root with a seed of its own: the
		// same seed again would write the same rows and segments over
		// themselves, and change nothing.
		seed := int64(2*run + 2)
		if incr.s3() {
			seed += 1000
		}
		b.change(ctx, e, seed)
		e.changed = nil
		if _, bad := broken[toolOurs]; !bad {
			if err := ours.snapshot(ctx, "ours-snapshot-for-"+string(incr)); err != nil {
				fail("ours' second snapshot failed", err)
			} else {
				e.changed = b.snapshotChange(e)
			}
		}
		b.round(ctx, e, incr, order, tools, broken, run)
	}
}

// snapshotChange compares ours' last two snapshots (untimed); nil when
// it cannot.
func (b *bench) snapshotChange(e *runEnv) *changeInfo {
	snaps, err := latestSnapshots(e.root.backups())
	if err == nil && len(snaps) < 2 {
		err = fmt.Errorf("%d snapshot(s) in %s; want 2", len(snaps), e.root.backups())
	}
	var c *changeInfo
	if err == nil {
		c, err = diffSnapshots(snaps[len(snaps)-2], snaps[len(snaps)-1])
	}
	if err != nil {
		b.say("warning: what changed between the snapshots: %v", err)
		return nil
	}
	b.say("the change step changed %d file(s), %.1f MiB (the database's changed pages: %.1f of %.1f MiB); %d file(s), %.1f MiB unchanged",
		c.ChangedFiles, mib(float64(c.ChangedBytes)), mib(float64(c.DBPageBytes)), mib(float64(c.DBBytes)), c.UnchangedFiles, mib(float64(c.UnchangedBytes)))
	return c
}

// change applies the change step (1% of Chroma bytes, 1% of database
// rows) and waits out ours' racy window.
func (b *bench) change(ctx context.Context, e *runEnv, seed int64) {
	c := command{argv: []string{b.bins.change, "-dir", e.root.dir, "-chroma", "0.01", "-rows", "0.01", "-seed", strconv.FormatInt(seed, 10)}}
	if err := e.untimed(ctx, "change", c); err != nil {
		b.say("FAILED: the change step: %v (the incrementals run on unchanged data)", err)
	}
	_ = sleep(ctx, racyWait)
}

// selected reports whether o is reported (other operations run only as
// what a chosen one starts from).
func (b *bench) selected(o op) bool { return slices.Contains(b.cfg.ops, o) }
