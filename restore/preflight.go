package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/holders"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/validate"
)

// maxChromaDirs bounds the directories preflight walks inside the live
// Chroma directory looking for other devices (Chroma keeps one per segment).
const maxChromaDirs = 100000

// preflight applies rule 8 before anything changes: the live Chroma path
// is absent, empty or a Chroma directory, overlaps no other live path, and
// has no mount point inside it; no other process has the live database or
// chroma.sqlite3 open.
func (r *restorer) preflight(withChroma bool) error {
	// A restore renames its staged files over the live ones: a live path
	// that names a device, a FIFO or a socket (a mistyped --db-path of
	// /dev/zero) must not be replaced.
	for _, p := range []string{r.live.DBPath, r.live.RegistryPath} {
		if p == "" {
			continue
		}
		if _, err := durable.StatRegular(p); errors.Is(err, durable.ErrNotRegular) {
			what := backup.WhatDB
			if p == r.live.RegistryPath {
				what = backup.WhatRegistry
			}
			return &RefusedError{Reason: ReasonUnsafeLayout, What: what, Detail: "a live path is not a regular file", Err: err}
		}
	}
	if err := r.cfg.Paths.CheckLayout(withChroma); err != nil {
		re := &RefusedError{Reason: ReasonUnsafeLayout, Detail: err.Error()}
		var le *backup.LayoutError
		if errors.As(err, &le) {
			re.What = le.What
		}
		return re
	}
	if withChroma {
		if err := checkChromaDir(r.live.ChromaPath, r.interrupted); err != nil {
			return err
		}
	}
	return r.checkHolders()
}

// checkChromaDir refuses a live Chroma path whose contents a restore must
// not clear: anything but an absent or empty directory or one that holds
// chroma.sqlite3, or one with another filesystem mounted inside it (its
// contents would be emptied, then the restore would fail halfway). The
// directory itself may be a mount point: it is never removed (rule 5).
//
// After an interrupted swap (interrupted) the directory is this tool's own
// half-replaced state, which may lack chroma.sqlite3 for a while: it is
// accepted as it is, for this restore to complete.
func checkChromaDir(dir string, interrupted bool) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("live Chroma directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return &RefusedError{Reason: ReasonUnsafeLayout, What: backup.WhatChroma, Detail: fmt.Sprintf("the live Chroma path %s is not a directory", dir)}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read live Chroma directory %s: %w", dir, err)
	}
	empty := true
	for _, e := range entries {
		if e.Name() != stagingName {
			empty = false
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, snapshot.ChromaDBName)); err != nil && !empty && !interrupted {
		return refuseChroma("the live Chroma path %s is not empty and holds no %s: it does not look like a Chroma directory, and a restore would clear it; set the Chroma path to the Chroma directory itself",
			dir, snapshot.ChromaDBName)
	}
	inside, err := mountsInside(dir)
	if err != nil {
		return err
	}
	if len(inside) > 0 {
		return refuseChroma("%s is mounted inside the live Chroma directory %s; a restore would empty it: unmount it, or move the mount to the Chroma directory itself", inside[0], dir)
	}
	return nil
}

// mountsInside returns the mount points strictly inside dir: from the
// kernel's mount table, and any directory on another device than dir's
// (which the table may not show inside a container).
func mountsInside(dir string) ([]string, error) {
	var found []string
	if table, err := readMountPoints(); err == nil {
		for _, m := range table {
			if isInside(m, dir) {
				found = append(found, m)
			}
		}
	}
	var root syscall.Stat_t
	if err := syscall.Stat(dir, &root); err != nil {
		return nil, fmt.Errorf("live Chroma directory %s: %w", dir, err)
	}
	seen := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a directory that vanished or cannot be read is not a mount point we can see
		}
		if !d.IsDir() || p == dir {
			return nil
		}
		if seen++; seen > maxChromaDirs {
			return errTooManyDirs
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) == nil && st.Dev != root.Dev {
			found = append(found, p)
			return filepath.SkipDir
		}
		return nil
	})
	if errors.Is(err, errTooManyDirs) {
		return nil, refuseChroma("the live Chroma directory %s holds more than %d directories, more than a Chroma directory has: is it the Chroma directory?", dir, maxChromaDirs)
	}
	return found, err
}

var errTooManyDirs = errors.New("too many directories")

// refuseChroma is an unsafe-layout refusal about the live Chroma path.
func refuseChroma(format string, args ...any) *RefusedError {
	re := refuse(ReasonUnsafeLayout, format, args...)
	re.What = backup.WhatChroma
	return re
}

// readMountPoints returns the mount points of /proc/self/mountinfo (its
// fifth field, with the kernel's octal escapes undone).
func readMountPoints() ([]string, error) {
	data, err := readBounded("/proc/self/mountinfo", 16<<20)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 5 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, nil
}

func readBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// unescapeMount undoes mountinfo's \ooo escapes (space, tab, newline, backslash).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// isInside reports whether path lies strictly inside dir.
func isInside(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

// checkHolders refuses while another process has the live database, its
// sidecars, or chroma.sqlite3 open or locked: an idle connection of a
// service that was not really stopped would write its later commits to the
// replaced (unlinked) file, and they would vanish.
func (r *restorer) checkHolders() error { return checkHolders(r.live) }

// checkHolders is the holder check of the live paths live (links resolved).
func checkHolders(live backup.Paths) error {
	db := live.DBPath
	paths := []string{db, db + "-wal", db + "-shm", db + "-journal"}
	if live.ChromaPath != "" {
		c := filepath.Join(live.ChromaPath, snapshot.ChromaDBName)
		paths = append(paths, c, c+"-wal", c+"-shm", c+"-journal")
	}
	hs, err := holders.Of(paths)
	if err != nil {
		return fmt.Errorf("look for processes using the live database: %w", err)
	}
	if len(hs) == 0 {
		// /proc shows only this PID namespace's processes: a service in
		// another (a container, with the restore in another) still holds
		// SQLite's locks, which the kernel shows to everyone.
		dbs := []string{db}
		if live.ChromaPath != "" {
			dbs = append(dbs, filepath.Join(live.ChromaPath, snapshot.ChromaDBName))
		}
		for _, p := range dbs {
			h, err := sqlitedb.LockHolder(p)
			if err != nil {
				return fmt.Errorf("look for processes using the live database: %w", err)
			}
			if h != nil {
				who := fmt.Sprintf("pid %d", h.PID)
				if h.PID <= 0 {
					who = "a process not visible here (another PID namespace, such as a container)"
				}
				return refuse(ReasonServiceRunning, "the service is still running: %s holds a SQLite lock on %s; stop it (and anything else using the database) first", who, h.Path)
			}
		}
		return nil
	}
	more := ""
	if len(hs) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(hs)-1)
	}
	return refuse(ReasonServiceRunning, "the service is still running: %s%s; stop it (and anything else using the database) first", hs[0], more)
}

// checkNotInUse refuses when another process has the live database open
// (the service was not really stopped) in a way /proc does not show, such
// as from another machine: a checkpoint that cannot finish says so. A
// database too damaged to checkpoint is what restores are for, so other
// errors do not stop the restore.
func (r *restorer) checkNotInUse(ctx context.Context) error {
	if _, err := os.Stat(r.live.DBPath); err != nil {
		return nil
	}
	if err := sqlitedb.Checkpoint(ctx, r.live.DBPath); errors.Is(err, sqlitedb.ErrInUse) {
		return &RefusedError{Reason: ReasonServiceRunning, Detail: "the live database is in use", Err: err}
	}
	return nil
}

// checkRegistry refuses a snapshot with a registry when no registry path is
// set, and warns when the snapshot has none while the live one exists.
func (r *restorer) checkRegistry() error {
	_, err := r.cfg.FS.Stat(filepath.Join(r.dir, filepath.FromSlash(snapshot.RegistryFile)))
	has := err == nil
	switch {
	case has && r.live.RegistryPath == "":
		return refuse(ReasonMissingPath, "snapshot %s has a project registry and no registry path is set", r.stamp)
	case !has && r.live.RegistryPath != "":
		if _, err := os.Stat(r.live.RegistryPath); err == nil {
			r.res.Warnings = append(r.res.Warnings, fmt.Sprintf(
				"registry_not_in_snapshot: the snapshot has no project registry; the live %s was left as it is", r.cfg.RegistryPath))
		}
	}
	return nil
}

// check applies rule 2: the snapshot is validated before anything is
// touched. For a snapshot made and validated by this tool (its metadata
// says validated, it has a manifest) the structure, sizes, registry and
// Chroma segments are checked here and every file's SHA-256 while it is
// staged (still before any live change): bytes equal to those that passed
// integrity_check at creation need no second integrity_check before the one
// on the restored database (rule 6). Any other snapshot (from the Python
// implementation, say) gets every check here.
func (r *restorer) check(ctx context.Context) error {
	trusted := r.meta != nil && r.meta.Validated && r.manifest != nil
	// For a trusted snapshot the digests are checked while staging, before
	// anything live changes; reading every byte twice would double the cost.
	opts := validate.Options{TrustIntegrity: trusted}
	if trusted {
		opts.SkipDigest = func(string) bool { return true }
	}
	v, err := validate.Dir(ctx, r.cfg.FS, r.dir, r.stamp, opts)
	if err != nil {
		return err
	}
	if !v.Valid {
		return &RefusedError{Reason: ReasonInvalidSnapshot, Detail: "the snapshot is invalid", Err: v.Err()}
	}
	r.res.Warnings = append(r.res.Warnings, v.Warnings...)
	return r.readSnapshot()
}

func (r *restorer) readSnapshot() error {
	data, err := afero.ReadFile(r.cfg.FS, filepath.Join(r.dir, snapshot.MetadataFile))
	if err != nil {
		return err
	}
	if r.meta, err = snapshot.DecodeMetadata(data); err != nil {
		return err
	}
	if data, err := afero.ReadFile(r.cfg.FS, filepath.Join(r.dir, snapshot.ManifestFile)); err == nil {
		m, err := snapshot.DecodeManifest(data)
		if err != nil {
			return err
		}
		r.manifest = m.Index()
	}
	return nil
}

// chromaWanted applies rule 7 and fails before any change when Chroma is
// forced on a snapshot without Chroma.
func (r *restorer) chromaWanted() (bool, error) {
	fi, err := r.cfg.FS.Stat(filepath.Join(r.dir, snapshot.ChromaDir))
	has := err == nil && fi.IsDir()
	switch r.opts.Chroma {
	case ChromaSkip:
		return false, nil
	case ChromaForce:
		if r.live.ChromaPath == "" {
			return false, refuse(ReasonMissingPath, "no Chroma path to restore to is set")
		}
		if !has {
			return false, refuse(ReasonMissingPath, "snapshot %s has no Chroma copy to force; pick a snapshot made with Chroma", r.stamp)
		}
		return true, nil
	}
	if has && r.live.ChromaPath == "" {
		return false, refuse(ReasonMissingPath, "snapshot %s has a Chroma copy and no Chroma path is set", r.stamp)
	}
	return has, nil
}

// warnOtherDeployment notes a snapshot taken from other live paths: its
// data may point at files this deployment does not have.
func (r *restorer) warnOtherDeployment() {
	if r.meta == nil {
		return
	}
	src := r.meta.Source
	pairs := [][3]string{{"database", src.DBPath, r.cfg.DBPath}, {"registry", src.RegistryPath, r.cfg.RegistryPath}, {"Chroma", src.ChromaPath, r.cfg.ChromaPath}}
	for _, p := range pairs {
		if p[1] != "" && p[2] != "" && filepath.Clean(p[1]) != p[2] {
			r.res.Warnings = append(r.res.Warnings, fmt.Sprintf(
				"source_paths_differ: the snapshot's %s came from %s, the live path is %s: is this snapshot from another deployment?", p[0], p[1], p[2]))
		}
	}
}
