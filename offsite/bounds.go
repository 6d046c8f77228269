package offsite

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Bounds of the total work a target can cause: the number of snapshots
// read, the bytes of statements and remote manifests read by one command,
// the entries of a statement, and the findings collected per snapshot.
const (
	maxRemoteSnapshots = 10000     // 27 years of daily snapshots
	maxReadPerCommand  = 256 << 20 // statements and manifests, all snapshots together
	maxStatementFiles  = 200000    // a snapshot of ~200,000 files
	maxFindings        = 100       // errors reported per remote snapshot
)

// ErrTooMuch is matched by errors.Is when a target holds more (snapshots,
// or bytes of statements and manifests) than the tool reads in one command.
var ErrTooMuch = errors.New("the target holds more than this tool reads")

// budget is what one command may still read of a target's statements and
// manifests.
type budget struct{ left int64 }

func newBudget() *budget { return &budget{left: maxReadPerCommand} }

// take spends n bytes, or says which limit they exceed (nil b: unbounded).
func (b *budget) take(n int64) error {
	if b == nil {
		return nil
	}
	if n > b.left {
		return fmt.Errorf("%w: its statements and manifests add up to more than %d MiB read in one command (a target stuffed with large ones?); prune it, or remove what is not ours", ErrTooMuch, maxReadPerCommand>>20)
	}
	b.left -= n
	return nil
}

// countSnapshots refuses a target with more snapshot directories than
// maxRemoteSnapshots, before any of them is read.
func countSnapshots(remote Remote) error {
	entries, err := afero.ReadDir(remote.FS, filepath.Join(remote.Root, snapshot.SnapshotsDir))
	if err != nil {
		return nil // no snapshots/: nothing to read
	}
	if len(entries) > maxRemoteSnapshots {
		return fmt.Errorf("%w: %d entries in %s, more than the %d snapshots it reads; prune the target (remote prune) or remove what is not a snapshot", ErrTooMuch, len(entries), snapshot.SnapshotsDir, maxRemoteSnapshots)
	}
	return nil
}

// findings collects a snapshot's errors up to maxFindings, then one line
// that says the rest were not listed.
type findings struct {
	list []string
	full bool
}

// add records f, and reports whether more are wanted.
func (f *findings) add(s string) bool {
	if f.full {
		return false
	}
	if len(f.list) == maxFindings {
		f.list = append(f.list, fmt.Sprintf("%s: more than %d problems; the rest are not listed", "too_many_errors", maxFindings))
		f.full = true
		return false
	}
	f.list = append(f.list, s)
	return true
}
