package offsite

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

// ownIncoming returns this host's incoming directory of stamp on the
// target (ROOT/.incoming-STAMP.HOLDERID), made if missing. An incoming
// directory of the name earlier versions used (.incoming-STAMP) is taken
// over when this host has none: the claim is held, and only files whose
// bytes hash to what this machine recorded are resumed from it.
func ownIncoming(rfs afero.Fs, root, stamp, holder string) (string, error) {
	own := filepath.Join(root, incomingName(stamp, holder))
	if _, err := lstat(rfs, own); err != nil {
		legacy := filepath.Join(root, IncomingPrefix+stamp)
		if fi, err := lstat(rfs, legacy); err == nil && fi.IsDir() {
			_ = rfs.Rename(legacy, own)
		}
	}
	if err := rfs.MkdirAll(own, 0o700); err != nil {
		return "", fmt.Errorf("create %s on the target: %w", own, err)
	}
	return own, nil
}

// place renames this host's incoming directory onto final, the
// snapshot's place, and checks that final then holds the statement sg
// this push wrote. A final that is there already and is not this push's
// (another host pushed the same stamp first) is left as it is and this
// push's upload is removed. One that turns out, after the rename, to
// hold another push's statement (another host renamed onto the same name
// at the same moment, on a server whose rename replaces an existing
// name) is an error too, never a success. Both are ErrStampTaken.
func place(rfs afero.Fs, incoming, final string, sg *signed) error {
	if err := rfs.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	if _, err := lstat(rfs, final); err == nil {
		return takenEnd(rfs, incoming, final, sg)
	}
	if err := rfs.Rename(incoming, final); err != nil {
		if _, serr := lstat(rfs, final); serr == nil {
			return takenEnd(rfs, incoming, final, sg)
		}
		return fmt.Errorf("put %s in place on the target: %w", final, err)
	}
	_ = syncRemoteDir(rfs, filepath.Dir(final))
	if err := holds(rfs, final, sg); err != nil {
		return fmt.Errorf("%w: this push renamed its upload to %s, and another push's is there now (%v): another host pushed the same stamp at the same moment, to a server whose rename replaces an existing name; this host's snapshot is not on the target: run remote validate on it, and push from one host per stamp", ErrStampTaken, final, err)
	}
	return nil
}

// takenEnd is the end of a push whose snapshot's name is already in
// use on the target: this push's own (a rename that answered an error
// once done) is success; another's is ErrStampTaken, and only this
// push's incoming directory is removed.
func takenEnd(rfs afero.Fs, incoming, final string, sg *signed) error {
	err := holds(rfs, final, sg)
	_ = rfs.RemoveAll(incoming)
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s is not this push's (%v): another host pushed the same stamp first; left it as it is and removed this push's upload %s", ErrStampTaken, final, err, incoming)
}

// ErrStampTaken is matched by errors.Is when another host's snapshot of
// the stamp being pushed is on the target: that host pushed it first, or
// at the same moment. errors.Is(err, ErrClaimed) matches it too.
var ErrStampTaken error = stampTakenError{}

type stampTakenError struct{}

func (stampTakenError) Error() string {
	return "another host's snapshot of this stamp is on the target"
}

// Is makes ErrStampTaken an ErrClaimed as well.
func (stampTakenError) Is(target error) bool { return target == ErrClaimed }

// errNotOurs says a snapshot on the target does not hold the statement a
// push wrote.
var errNotOurs = errors.New("its statement is not the one this push wrote")

// holds checks that dir holds the statement (and signature) this push
// wrote: the same bytes.
func holds(rfs afero.Fs, dir string, sg *signed) error {
	data, err := readBounded(rfs, filepath.Join(dir, StatementFile), maxStatement)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errNotOurs, StatementFile, err)
	}
	if digestOf(data) != sg.digest {
		return fmt.Errorf("%w: %s differs", errNotOurs, StatementFile)
	}
	sig, err := readBounded(rfs, filepath.Join(dir, SignatureFile), maxSignature)
	switch {
	case sg.sigDigest == "" && err == nil:
		return fmt.Errorf("%w: it has a %s, this push signed nothing", errNotOurs, SignatureFile)
	case sg.sigDigest != "" && err != nil:
		return fmt.Errorf("%w: %s: %v", errNotOurs, SignatureFile, err)
	case sg.sigDigest != "" && digestOf(sig) != sg.sigDigest:
		return fmt.Errorf("%w: %s differs", errNotOurs, SignatureFile)
	}
	return nil
}

// incomingStamp returns the stamp of an incoming directory's name on the
// target: .incoming-STAMP.HOLDERID, or .incoming-STAMP as earlier
// versions named it.
func incomingStamp(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, IncomingPrefix)
	if !ok {
		return "", false
	}
	if snapshot.IsStamp(rest) {
		return rest, true
	}
	stamp, id := rest, ""
	if i := len(rest) - holderIDLen - 1; i > 0 && rest[i] == '.' {
		stamp, id = rest[:i], rest[i+1:]
	}
	if !snapshot.IsStamp(stamp) || !isHolderID(id) {
		return "", false
	}
	return stamp, true
}
