package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A tool is one contender during one phase of one run (a fresh value each
// time, so each run starts with fresh repositories). step prepares o
// untimed (a new repository, a scratch copy to restore over) and returns
// the one command to time.
type tool interface {
	step(ctx context.Context, o op) (*step, error)
}

// step is one timed command and how to measure and check it.
type step struct {
	cmd command
	// dest are the directories the command writes: the growth of their
	// disk usage is the measurement's bytes written.
	dest []string
	// reads are the directories the command reads besides the root and
	// dest (the repository a restore reads from); with dest and the
	// root they are put in the page cache before the command (see warmFor).
	reads []string
	// verify, if set, checks the result untimed (an "ok" from
	// integrity_check, a restored tree of the right shape) and may add
	// to the measurement (ours' own count of bytes sent).
	verify func(o outcome, m *measurement) error
	// cleanup lists paths removed after the measurement (restored copies).
	cleanup []string
}

// newTool makes the named contender for one phase.
func newTool(name string, e *runEnv) tool {
	switch name {
	case toolOurs:
		return &oursTool{e: e}
	case "sqlite3+cp":
		return &plainTool{e: e}
	case "rsync":
		return &rsyncTool{e: e}
	case "restic":
		return &resticTool{e: e}
	case "borg":
		return &borgTool{e: e}
	case "rclone":
		return &rcloneTool{e: e}
	}
	panic("compare: no tool " + name) // parseTools admits only the names above
}

// runEnv is what the tools of one phase of one run share.
type runEnv struct {
	root  atocoreRoot
	dir   string    // this phase's scratch directory, empty at the start
	ours  string    // the atocore-backup binary
	net   *network  // the loopback SSH server; nil without push operations
	s3    *s3Server // the loopback S3 server; nil without S3 operations
	r     *runner
	label string // prefixes the log file names, e.g. s16-r1
	// changed is what the change step changed between ours' two pushed
	// snapshots (in each push phase); it goes with the incrementals'
	// measurements.
	changed *changeInfo
}

// path is a path in the phase's scratch directory.
func (e *runEnv) path(name string) string { return filepath.Join(e.dir, name) }

// untimed runs a preparation command (a repository's init, a scratch
// copy) and returns its failure as the step's.
func (e *runEnv) untimed(ctx context.Context, what string, c command) error {
	o := e.r.run(ctx, e.label+"-"+what, c)
	if o.err != nil {
		return fmt.Errorf("untimed %s: %w", what, o.err)
	}
	return nil
}

// scratchCopy copies the live data/ and config/ into dst, for a restore
// to write over as it would over the live paths.
func (e *runEnv) scratchCopy(ctx context.Context, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	argv := append([]string{"cp", "-a"}, e.root.sources()...)
	return e.untimed(ctx, "scratch-copy", command{argv: append(argv, dst+"/")})
}

// freshDir removes dir and makes it again, empty.
func freshDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

// sameShapeAsRoot checks that restored (a directory holding data/ and
// config/) has the live root's files with the live sizes.
func (e *runEnv) sameShapeAsRoot(restored string) error {
	for _, src := range e.root.sources() {
		if err := sameShape(filepath.Join(restored, filepath.Base(src)), src); err != nil {
			return err
		}
	}
	return nil
}

// wantOK checks that a pipeline's stdout ends with SQLite's "ok".
func wantOK(o outcome, _ *measurement) error {
	s := strings.TrimSpace(string(o.stdout))
	if !strings.HasSuffix(s, "ok") {
		return fmt.Errorf("integrity_check did not say ok: %.200s", s)
	}
	return nil
}
