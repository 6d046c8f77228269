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
	// The S3 column (issue 18): the same to versitygw on loopback.
	opPushS3Full op = "push-s3-full"
	opPushS3Incr op = "push-s3-incremental"
)

// allOps lists the operations in the order they are reported.
var allOps = []op{opFull, opIncr, opCheck, opRestore, opPushFull, opPushIncr, opPushS3Full, opPushS3Incr}

// s3Ops are the operations against the S3 server. "all" includes them only
// when versitygw is found (see checkTools).
var s3Ops = []op{opPushS3Full, opPushS3Incr}

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
	case opPushS3Full:
		return "S3 push full"
	case opPushS3Incr:
		return "S3 push incremental"
	}
	return string(o)
}

// sftp reports whether the operation goes to the loopback SSH server.
func (o op) sftp() bool { return o == opPushFull || o == opPushIncr }

// s3 reports whether the operation goes to the loopback S3 server.
func (o op) s3() bool { return o == opPushS3Full || o == opPushS3Incr }

// network reports whether the operation goes to a server, SSH or S3 (and
// so has bytes sent and server CPU).
func (o op) network() bool { return o.sftp() || o.s3() }

// full reports whether the operation is a phase's first backup, which the
// phase's later operations start from.
func (o op) full() bool { return o == opFull || o == opPushFull || o == opPushS3Full }

// local reports whether the operation belongs to the local phase of a run
// (full, incremental, check, restore); the others belong to the push phase.
func (o op) local() bool { return !o.network() }

// parseOps reads the -ops flag: a comma-separated subset of allOps, or
// "all". all reports whether the flag said "all" (then operations whose
// server is missing are left out rather than refused).
func parseOps(s string) (ops []op, all bool, err error) {
	if s == "" || s == "all" {
		return allOps, true, nil
	}
	var want []op
	for _, f := range strings.Split(s, ",") {
		o := op(strings.TrimSpace(f))
		if !slices.Contains(allOps, o) {
			return nil, false, fmt.Errorf("-ops: %q is not an operation; use a comma-separated subset of %s", o, joinOps(allOps))
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
	return ordered, false, nil
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
	local, push, s3 bool
}

func phasesFor(ops []op) phases {
	var p phases
	for _, o := range ops {
		switch {
		case o.local():
			p.local = true
		case o.sftp():
			p.push = true
		case o.s3():
			p.s3 = true
		}
	}
	return p
}
