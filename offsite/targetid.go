package offsite

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/target"
)

// TargetIDFile, at the target's root, holds the target's identity: a
// random id that the first push writes once and every statement pushed
// there names (Statement.TargetID). A statement copied from another target
// names that other target.
const TargetIDFile = "target-id"

// ErrOtherTarget is matched by errors.Is when a statement names another
// target than the one it is read from (a snapshot copied from elsewhere),
// or when a target's id is not the one this machine knows it by.
var ErrOtherTarget = errors.New("the statement is for another target")

// maxTargetID bounds the id file read from a target.
const maxTargetID = 256

// newTargetID returns a fresh random target id: 32 hex digits.
func newTargetID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validTargetID reports whether id has the form newTargetID makes.
func validTargetID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// readTargetID reads the target's id: "" when it has none.
func readTargetID(remote Remote) (string, error) {
	data, err := readBounded(remote.FS, filepath.Join(remote.Root, TargetIDFile), maxTargetID)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("the target's %s: %w", TargetIDFile, err)
	}
	id := strings.TrimSpace(string(data))
	if !validTargetID(id) {
		return "", fmt.Errorf("the target's %s holds %q, not a target id (32 hex digits); remove it and push again", TargetIDFile, truncate(id, 40))
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// knownTarget is what this machine remembers of a target address: the id
// it found or wrote there (.push-state/<hash>.target.json). It is how a
// machine that remembers sees a target whose id file was replaced.
type knownTarget struct {
	path     string
	Target   string `json:"target"`
	TargetID string `json:"target_id"`
}

func loadKnownTarget(fsys afero.Fs, backupDir, url string) *knownTarget {
	k := &knownTarget{Target: url}
	if backupDir == "" || fsys == nil {
		return k
	}
	sum := sha256.Sum256([]byte(url))
	k.path = filepath.Join(backupDir, stateDir, hex.EncodeToString(sum[:8])+".target.json")
	if data, err := durable.ReadFileNoLinks(fsys, filepath.Dir(k.path), filepath.Base(k.path), maxTargetID*4); err == nil {
		var saved knownTarget
		if json.Unmarshal(data, &saved) == nil && saved.Target == url && validTargetID(saved.TargetID) {
			k.TargetID = saved.TargetID
		}
	}
	return k
}

// remember saves id for the address, creating the state directory only
// when create is set (push and pull; a read-only command records only
// into an existing one).
func (k *knownTarget) remember(fsys afero.Fs, id string, create bool) error {
	if k.path == "" || id == "" || id == k.TargetID {
		return nil
	}
	if !ensureStateDir(fsys, filepath.Dir(k.path), create) {
		return nil
	}
	k.TargetID = id
	data, err := json.MarshalIndent(k, "", " ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(fsys, k.path, data, 0o600); err != nil {
		return fmt.Errorf("remember the target's id: %w", err)
	}
	return nil
}

// ensureStateDir makes dir when create is set; without, it reports
// whether dir exists.
func ensureStateDir(fsys afero.Fs, dir string, create bool) bool {
	if create {
		return fsys.MkdirAll(dir, 0o700) == nil
	}
	fi, err := fsys.Stat(dir)
	return err == nil && fi.IsDir()
}

// readerTargetID is the id a reader holds the target's statements to:
// the one this machine remembers for the address, else the one the
// target names (a fresh machine can only take the target's word, and then
// checks that its statements agree). A remembered id that differs from
// the target's is ErrOtherTarget unless allowOther (the target was
// replaced on purpose): the target's own id is then used.
func readerTargetID(remote Remote, known *knownTarget, allowOther bool) (string, error) {
	onTarget, err := readTargetID(remote)
	if err != nil && !allowOther {
		return "", err
	}
	switch {
	case known.TargetID == "":
		return onTarget, nil
	case onTarget == known.TargetID:
		return onTarget, nil
	case onTarget == "":
		// The target lost (or garbled) its id file; its statements still
		// name it. Allowing another target changes nothing here: with no
		// id the rollback memory would not be consulted at all.
		return known.TargetID, nil
	case allowOther:
		return onTarget, nil
	}
	return "", fmt.Errorf("%w: %s names itself %s in %s, but this machine knows it as %s: it is another target, or its id was replaced; if the target was replaced on purpose, allow another target",
		ErrOtherTarget, remote.URL, onTarget, TargetIDFile, known.TargetID)
}

// pusherTargetID is the id a push names in its statements: the one this
// machine remembers for the address or the target's own (written back to
// a target that lost it), else a new one written once. A target whose id
// differs from the remembered one is refused: pushing there would mix two
// targets' chains.
func pusherTargetID(cfgFS afero.Fs, remote Remote, known *knownTarget) (string, error) {
	onTarget, err := readTargetID(remote)
	if err != nil {
		return "", err
	}
	if onTarget != "" && known.TargetID != "" && onTarget != known.TargetID {
		return "", fmt.Errorf("%w: %s names itself %s in %s, but this machine pushed there as %s: it is another target, or its id was replaced; if the target was replaced on purpose, remove %s and push again",
			ErrOtherTarget, remote.URL, onTarget, TargetIDFile, known.TargetID, known.path)
	}
	id := onTarget
	if id == "" {
		id = known.TargetID
		if id == "" {
			id = newTargetID()
		}
		if err := remote.FS.MkdirAll(remote.Root, 0o700); err != nil {
			return "", fmt.Errorf("create %s on the target: %w", remote.Root, err)
		}
		got, err := writeTargetID(remote, id)
		if err != nil {
			return "", err
		}
		id = got
	}
	return id, known.remember(cfgFS, id, true)
}

// writeTargetID writes id as the target's id, under a temporary name of
// its own (two first pushes may race), and returns the id that the target
// then holds: the one that stayed when another push wrote its own first.
func writeTargetID(remote Remote, id string) (string, error) {
	name := filepath.Join(remote.Root, TargetIDFile)
	if target.IsObjectStore(remote.FS) {
		// No rename there (it is a copy): an exclusive create, which
		// fails when another push wrote its id first.
		if _, err := target.WriteFileFrom(remote.FS, name, bytesReader([]byte(id+"\n")), 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("write %s on the target: %w", name, err)
		}
		return readWrittenTargetID(remote, name)
	}
	tmp := name + "." + newTargetID()[:8] + partSuffix
	if _, err := writeStream(remote.FS, tmp, bytesReader([]byte(id+"\n")), true); err != nil {
		_ = remote.FS.Remove(tmp)
		return "", fmt.Errorf("write %s on the target: %w", name, err)
	}
	if _, err := lstat(remote.FS, name); err == nil {
		_ = remote.FS.Remove(tmp) // another push wrote it meanwhile
	} else if err := remote.FS.Rename(tmp, name); err != nil {
		_ = remote.FS.Remove(tmp)
		if _, serr := lstat(remote.FS, name); serr != nil {
			return "", fmt.Errorf("write %s on the target: %w", name, err)
		}
	}
	return readWrittenTargetID(remote, name)
}

// readWrittenTargetID reads back the id just written at name.
func readWrittenTargetID(remote Remote, name string) (string, error) {
	got, err := readTargetID(remote)
	if err != nil {
		return "", err
	}
	if got == "" {
		return "", fmt.Errorf("the target lost %s just after it was written; push again", name)
	}
	return got, nil
}
