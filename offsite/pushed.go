package offsite

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// maxStateBytes bounds one push-state file read back for monitoring.
const maxStateBytes = 4 << 20

// stateFileName is the name loadState gives a target's push state.
var stateFileName = regexp.MustCompile(`^[0-9a-f]{16}\.json$`)

// PushedTarget is what this machine's push state says about one target.
type PushedTarget struct {
	// Target is the target's URL without secrets, as push was given it.
	Target string
	// NewestStamp is the newest snapshot pushed to it from here.
	NewestStamp string
}

// PushedTargets reads the push state in backupDir: for each target this
// machine pushed to, the newest snapshot it pushed, sorted by target. It
// is what monitoring can know of off-site copies without opening a
// target. A missing state directory is no target; a state file that does
// not parse is skipped (push itself treats it as lost).
func PushedTargets(fsys afero.Fs, backupDir string) ([]PushedTarget, error) {
	dir := filepath.Join(backupDir, stateDir)
	entries, err := afero.ReadDir(fsys, dir)
	if errors.Is(err, os.ErrNotExist) {
		return []PushedTarget{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []PushedTarget{}
	for _, e := range entries {
		if !e.Mode().IsRegular() || !stateFileName.MatchString(e.Name()) {
			continue
		}
		data, err := durable.ReadFileNoLinks(fsys, dir, e.Name(), maxStateBytes)
		if err != nil {
			continue
		}
		var st pushState
		if json.Unmarshal(data, &st) != nil || st.Target == "" {
			continue
		}
		var newest string
		for _, s := range st.Pushed {
			if _, err := snapshot.ParseStamp(s); err == nil && s > newest {
				newest = s
			}
		}
		if newest != "" {
			out = append(out, PushedTarget{Target: st.Target, NewestStamp: newest})
		}
	}
	slices.SortFunc(out, func(a, b PushedTarget) int { return strings.Compare(a.Target, b.Target) })
	return out, nil
}
