package offsite

import (
	"errors"
	"fmt"

	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// session starts the encryption of one pushed snapshot. With a passphrase
// it reuses, in this order, the key file of the resumed upload in
// incoming (when its journal names it), the key file of the previous
// pushed snapshot prev (when it is byte for byte the one this machine
// pushed, as the push state remembers), or starts a new session key.
//
// A key file on the target that is damaged, unreadable, replaced or
// costlier than ours is not a reason to stop pushing: the push starts a
// new session key and returns a warning saying so (its files are then
// sent, not linked). Only a wrong passphrase for the key file this machine
// pushed stops it: that is the operator's mistake, and a new key would
// make snapshots nobody can open.
func (p *pusher) session(incoming string, jr *journal, prev *stateEntry) (*session, string, error) {
	seal := p.opts.Sealing
	if len(seal.Passphrase) == 0 {
		sess, err := seal.open(nil)
		return sess, "", err
	}
	rfs := p.remote.FS
	var problems []string
	if kf, err := durable.ReadFileNoLinks(rfs, incoming, encryptKeyFile, maxKeyFileSize); err == nil && keyFileID(kf) == jr.KeyID {
		sess, err := seal.open(kf)
		if err == nil {
			return sess, "", nil
		}
		problems = append(problems, fmt.Sprintf("the interrupted upload's %s does not open (%v)", encryptKeyFile, err))
	}
	if prev != nil && prev.KeyFile != "" {
		dir := snapshot.Dir(p.remote.Root, prev.Stamp)
		kf, err := readSnapshotFile(rfs, dir, prev.KeyFile, maxKeyFileSize)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("the %s of snapshot %s cannot be read (%v)", prev.KeyFile, prev.Stamp, err))
		case keyFileID(kf) != prev.KeyID:
			problems = append(problems, fmt.Sprintf("the %s of snapshot %s is damaged or was replaced (it is not the one this machine pushed)", prev.KeyFile, prev.Stamp))
		default:
			sess, err := seal.open(kf)
			if err == nil {
				return sess, "", nil
			}
			if errors.Is(err, encrypt.ErrWrongPassphrase) {
				return nil, "", fmt.Errorf("the passphrase does not open the %s this machine pushed with snapshot %s: %w", prev.KeyFile, prev.Stamp, err)
			}
			problems = append(problems, fmt.Sprintf("the %s of snapshot %s does not open (%v)", prev.KeyFile, prev.Stamp, err))
		}
	}
	sess, err := seal.open(nil)
	if err != nil || len(problems) == 0 {
		return sess, "", err
	}
	return sess, fmt.Sprintf("started a new session key for this snapshot: %s; its files are sent again, not linked, and it opens with its own %s",
		joinProblems(problems), encryptKeyFile), nil
}

func joinProblems(ps []string) string {
	out := ps[0]
	for _, p := range ps[1:] {
		out += "; " + p
	}
	return out
}
