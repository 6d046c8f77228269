package main

import (
	"fmt"
	"slices"
	"strings"
)

// op is one operation of the comparison, as named in -ops and results.json.
type op string

const (
	opFull     op = "full"             // a full backup into a fresh destination
	opIncr     op = "incremental"      // a backup after the change step, next to the full one
	opCheck    op = "check"            // verify the latest backup's content
	opRestore  op = "restore"          // restore the latest backup
	opPushFull op = "push-full"        // a full backup or copy to the loopback SSH server
	opPushIncr op = "push-incremental" // the same after the change step
)

// allOps lists the operations in the order they are reported.
var allOps = []op{opFull, opIncr, opCheck, opRestore, opPushFull, opPushIncr}

// title is the operation's name in the tables and the plot.
func (o op) title() string {
	switch o {
	case opFull:
		return "full backup"
	case opIncr:
		return "incremental"
	case opPushFull:
		return "push full"
	case opPushIncr:
		return "push incremental"
	}
	return string(o)
}

// network reports whether the operation goes through the loopback SSH
// server (and so has bytes sent).
func (o op) network() bool { return o == opPushFull || o == opPushIncr }

// local reports whether the operation belongs to the local phase of a run
// (full, incremental, check, restore); the others belong to the push phase.
func (o op) local() bool { return !o.network() }

// parseOps reads the -ops flag: a comma-separated subset of allOps, or
// "all".
func parseOps(s string) ([]op, error) {
	if s == "" || s == "all" {
		return allOps, nil
	}
	var want []op
	for _, f := range strings.Split(s, ",") {
		o := op(strings.TrimSpace(f))
		if !slices.Contains(allOps, o) {
			return nil, fmt.Errorf("-ops: %q is not an operation; use a comma-separated subset of %s", o, joinOps(allOps))
		}
		if !slices.Contains(want, o) {
			want = append(want, o)
		}
	}
	// Report in the canonical order whatever order the flag gave.
	var ordered []op
	for _, o := range allOps {
		if slices.Contains(want, o) {
			ordered = append(ordered, o)
		}
	}
	return ordered, nil
}

func joinOps(ops []op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ",")
}

// phases says which phases of a run the chosen operations need. A phase
// always runs its full backup (the others start from it); the change step
// and the incremental run only when an incremental is chosen.
type phases struct {
	local, push bool
}

func phasesFor(ops []op) phases {
	var p phases
	for _, o := range ops {
		if o.local() {
			p.local = true
		} else {
			p.push = true
		}
	}
	return p
}
