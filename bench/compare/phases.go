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
		ours: b.bins.ours, net: b.net, r: b.r, label: fmt.Sprintf("%s-r%d", root.label(), run+1),
	}
	clean := func() {
		_ = os.RemoveAll(e.dir)
		_ = os.RemoveAll(root.backups())
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

// pushOps is the push phase. ours' snapshots (made untimed) are the
// source of ours' push and of rsync; restic and borg back up the root
// into their remote repositories.
func (b *bench) pushOps(ctx context.Context, e *runEnv, order []string, tools map[string]tool, run int) {
	broken := map[string]string{}
	ours := tools[toolOurs].(*oursTool)
	if err := ours.snapshot(ctx, "ours-snapshot-for-push"); err != nil {
		b.say("FAILED: %v", err)
		broken[toolOurs], broken["rsync"] = "ours' snapshot to push failed", "ours' snapshot to push failed"
	}
	b.round(ctx, e, opPushFull, order, tools, broken, run)
	if !b.selected(opPushIncr) {
		return
	}
	b.change(ctx, e, int64(2*run+2))
	if _, bad := broken[toolOurs]; !bad {
		if err := ours.snapshot(ctx, "ours-snapshot-for-push-incremental"); err != nil {
			b.say("FAILED: %v", err)
			broken[toolOurs], broken["rsync"] = "ours' second snapshot failed", "ours' second snapshot failed"
		}
	}
	b.round(ctx, e, opPushIncr, order, tools, broken, run)
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
