package offsite

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/target"
)

// walkFiles calls fn for every file below dir with its path (dir joined
// with its name below dir), as afero.Walk would, directories left out:
// in one listing where the target lists whole trees (target.TreeLister:
// object storage, where a walk costs a request per file and directory),
// else by walking. A name from a listing that is not a plain relative
// path ("../x", "a//b") is passed to fn as an error, never joined.
// fn returning fs.SkipAll ends the walk without an error.
func walkFiles(rfs afero.Fs, dir string, fn func(p string, info fs.FileInfo, err error) error) error {
	tl, ok := rfs.(target.TreeLister)
	if !ok {
		err := afero.Walk(rfs, dir, func(p string, info fs.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				return nil
			}
			return fn(p, info, err)
		})
		if errors.Is(err, fs.SkipAll) {
			return nil
		}
		return err
	}
	return tl.ListTree(dir, func(rel string, info fs.FileInfo) error {
		if !fs.ValidPath(rel) || path.Clean(rel) != rel {
			return fn(dir, nil, fmt.Errorf("the target lists a file named %q below %s, which is not a plain relative name", rel, dir))
		}
		return fn(filepath.Join(dir, filepath.FromSlash(rel)), info, nil)
	})
}
