package backup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// maxLinkHops bounds how many symbolic links one path may go through, as
// the kernel's ELOOP limit does.
const maxLinkHops = 40

// Real returns p with every live path (database, registry, Chroma, backup
// directory) resolved through its symbolic links, once. SQLite keeps a
// database's -wal and -shm beside the file a link points to, so sidecars,
// the state of an unchanged database and a restore's rename must all use
// the resolved path; a restore then replaces the link's target and leaves
// the link in place. A path that does not exist yet resolves as far as it
// exists (its parent's links, and a dangling link's target). Root is kept.
func (p Paths) Real() (Paths, error) {
	for _, v := range []*string{&p.DBPath, &p.RegistryPath, &p.ChromaPath, &p.BackupDir} {
		if *v == "" {
			continue
		}
		r, err := realPath(*v)
		if err != nil {
			return p, err
		}
		*v = r
	}
	return p, nil
}

// realPath resolves path's symbolic links: its directory's through
// filepath.EvalSymlinks on the part that exists, then the last element's,
// following a link whose target does not exist (yet) to that target.
func realPath(path string) (string, error) {
	path = filepath.Clean(path)
	for hop := 0; hop <= maxLinkHops; hop++ {
		dir, base := filepath.Split(path)
		dir = evalExisting(filepath.Clean(dir))
		path = filepath.Join(dir, base)
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		path = filepath.Clean(target)
	}
	return "", &fs.PathError{Op: "resolve", Path: path, Err: errors.New("too many levels of symbolic links")}
}

// evalExisting resolves the links of the longest prefix of dir that exists.
func evalExisting(dir string) string {
	var rest []string
	for cur := dir; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(append([]string{r}, rest...)...)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return dir
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
	}
}
