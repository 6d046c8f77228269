package target

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// dirCache remembers the directories this FS made or found, so that a
// push that writes a hundred files into a few directories does not ask
// the server again, for each file, whether its directory is there (three
// requests each: the name as an object, its marker, a listing). On
// object storage a directory is an emulation: a file written under a
// prefix whose marker another client removed meanwhile makes the prefix
// exist again, so a stale entry costs nothing but the marker's mode.
//
// It also knows the directories this FS made where nothing was (fresh),
// and which names it has written in them since: any other name there is
// absent without asking (a push's new snapshot directory, whose files
// would each cost two requests to be found free). A name is counted as
// written before its write starts, so a write that fails or is cut off
// leaves it "maybe there", never "absent" while it is there. Only the
// directory a MkdirAll was asked for becomes fresh, never the parents it
// made on the way (snapshots/, where other hosts add theirs), and only
// for freshFor: a long-lived process (offsite-sync, the admin server)
// asks the server again after that.
//
// Every removal, rename or mode change through this FS forgets the name
// and everything below it.
type dirCache struct {
	mu    sync.Mutex
	dirs  map[string]*s3Info   // by path below the root, "" never stored
	fresh map[string]*freshDir // by path below the root
}

// freshDir is a directory this FS made empty: when, and the names it
// wrote in it since.
type freshDir struct {
	made  time.Time
	names map[string]bool
}

// freshFor is how long a directory this FS made empty is trusted to hold
// only what it wrote there.
const freshFor = time.Hour

// dirCacheMax bounds the cache: past it, it starts again empty.
const dirCacheMax = 4096

func (c *dirCache) get(r string) (*s3Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fi, ok := c.dirs[r]
	return fi, ok
}

// add records r, and every directory above it, as existing.
func (c *dirCache) add(r string, fi *s3Info) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(c.dirs) >= dirCacheMax:
		c.dirs, c.fresh = map[string]*s3Info{}, nil
	case c.dirs == nil:
		c.dirs = map[string]*s3Info{}
	}
	for p := r; p != ""; p = parent(p) {
		c.wroteLocked(p)
		if _, ok := c.dirs[p]; ok && p != r {
			break
		}
		if p == r {
			c.dirs[p] = fi
		} else {
			c.dirs[p] = dirInfo(p, nil, nil)
		}
	}
}

// markFresh records that r was empty (no object had its prefix) when
// this FS made it.
func (c *dirCache) markFresh(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.markFreshLocked(r)
}

func (c *dirCache) markFreshLocked(r string) {
	if c.fresh == nil {
		c.fresh = map[string]*freshDir{}
	}
	if _, ok := c.fresh[r]; !ok {
		c.fresh[r] = &freshDir{made: time.Now(), names: map[string]bool{}}
	}
}

// markFreshUnknown is markFresh of a directory made on the way to
// another, unless it is known already: a call beside this one that made
// it known first may have written in it before it was fresh.
func (c *dirCache) markFreshUnknown(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.dirs[r]; known {
		return
	}
	c.markFreshLocked(r)
}

// spoil makes r never fresh: another writer made it at the same time, so
// what is in it is not only what this FS counts. It overrides markFresh,
// whichever comes first.
func (c *dirCache) spoil(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fresh == nil {
		c.fresh = map[string]*freshDir{}
	}
	c.fresh[r] = &freshDir{names: map[string]bool{}} // made at the zero time: expired
}

// wrote records that r is (or is about to be) written by this FS.
func (c *dirCache) wrote(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wroteLocked(r)
}

func (c *dirCache) wroteLocked(r string) {
	if d, ok := c.fresh[parent(r)]; ok && r != "" {
		d.names[path.Base(r)] = true
	}
}

// absent reports whether r is known not to exist: its directory is fresh
// and this FS wrote no r there.
func (c *dirCache) absent(r string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.fresh[parent(r)]
	return ok && r != "" && time.Since(d.made) < freshFor && !d.names[path.Base(r)]
}

// forget drops r and everything below it ("" drops everything). A
// removed name stays counted as written in its fresh directory: finding
// it gone costs a request.
func (c *dirCache) forget(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.dirs {
		if r == "" || p == r || strings.HasPrefix(p, r+"/") {
			delete(c.dirs, p)
		}
	}
	for p := range c.fresh {
		if r == "" || p == r || strings.HasPrefix(p, r+"/") {
			delete(c.fresh, p)
		}
	}
}

// ListTree lists every object below dir (TreeLister), directory markers
// left out.
func (s *s3FS) ListTree(dir string, fn func(rel string, info fs.FileInfo) error) error {
	r := rel(dir)
	prefix := s.dirPrefix(r)
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix}
	for range s3MaxListPages {
		out, err := s.c.ListObjectsV2(s.ctx, in)
		if err != nil {
			return &os.PathError{Op: "list", Path: "/" + r, Err: s3Err("list", prefix, err)}
		}
		for _, o := range out.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if name == "" || strings.HasSuffix(name, "/") {
				continue // a directory's marker
			}
			err := fn(name, fileInfo(path.Join(r, name), aws.ToInt64(o.Size), nil, o.LastModified))
			if errors.Is(err, fs.SkipAll) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	return fmt.Errorf("list /%s: more than %d pages", r, s3MaxListPages)
}
