package validate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// Options tunes a validation. The zero value runs every check.
type Options struct {
	// Quick checks structure and sizes only: no SHA-256 and no
	// integrity_check. Retention uses it to tell complete snapshots from
	// incomplete ones without reading gigabytes; it proves nothing about
	// the bytes.
	Quick bool
	// TrustIntegrity skips integrity_check for databases listed in the
	// manifest, whose SHA-256 the caller checks (here, or itself before it
	// uses the bytes, as restore does while staging): bytes equal to those
	// that passed integrity_check when the snapshot was validated at
	// creation. It changes nothing for a snapshot without a manifest.
	TrustIntegrity bool
	// KnownGood, when set, names files that are the very inodes of a
	// snapshot that passed validation (create hardlinks unchanged files):
	// neither their digest nor, for a database, integrity_check is run
	// again; their size is still checked.
	KnownGood func(rel string) bool
	// SkipDigest, when set, names files whose bytes are already known to
	// match the manifest: create passes the files it hardlinked from a
	// snapshot that passed validation (the same inodes). Their sizes are
	// still checked.
	SkipDigest func(rel string) bool
	// Ignore, when set, names files that lie beside the snapshot's own
	// layout without being part of it (a target's signed statement, which
	// its caller checks): they are neither checked nor reported.
	Ignore func(rel string) bool
}

// Snapshot validates the snapshot stamp in the backup directory backupDir
// on fsys (nil means the OS filesystem). err is non-nil only when stamp is malformed (snapshot.ErrBadStamp)
// or ctx ends; an absent or damaged snapshot is a Result with Valid false.
func Snapshot(ctx context.Context, fsys afero.Fs, backupDir, stamp string) (*Result, error) {
	if _, err := snapshot.ParseStamp(stamp); err != nil {
		return nil, err
	}
	return Dir(ctx, fsys, snapshot.Dir(backupDir, stamp), stamp, Options{})
}

// Dir validates the snapshot held in directory dir (a snapshot in place, or
// one still being built), expected to carry stamp.
func Dir(ctx context.Context, fsys afero.Fs, dir, stamp string, opts Options) (*Result, error) {
	if fsys == nil {
		fsys = afero.NewOsFs()
	}
	v := &run{ctx: ctx, fsys: fsys, dir: dir, opts: opts, res: &Result{Stamp: stamp, Errors: []string{}, Warnings: []string{}}}
	if err := v.check(); err != nil {
		return nil, err
	}
	v.res.sort()
	return v.res, nil
}

type run struct {
	ctx  context.Context
	fsys afero.Fs
	dir  string
	opts Options
	res  *Result

	mu    sync.Mutex
	files map[string]fs.FileInfo // every non-directory under dir, by slash path
}

func (v *run) fail(code, format string, args ...any) {
	v.mu.Lock()
	v.res.Errors = append(v.res.Errors, finding(code, format, args...))
	v.mu.Unlock()
}

func (v *run) warn(code, format string, args ...any) {
	v.mu.Lock()
	v.res.Warnings = append(v.res.Warnings, finding(code, format, args...))
	v.mu.Unlock()
}

func (v *run) check() error {
	fi, err := v.fsys.Stat(v.dir)
	if err != nil || !fi.IsDir() {
		v.fail(CodeSnapshotMissing, "%s does not exist", v.dir)
		return nil
	}
	if err := v.walk(); err != nil {
		return err
	}
	meta := v.metadata()
	manifest := v.manifest(meta)

	var jobs []job
	if _, ok := v.files[snapshot.DBFile]; !ok {
		v.fail(CodeDBMissing, "%s is missing", snapshot.DBFile)
	} else if !v.opts.Quick && !v.trusted(manifest, snapshot.DBFile) {
		jobs = append(jobs, v.integrityJob(snapshot.DBFile, CodeDBIntegrity))
	}
	v.registry(meta)
	if chromaDB, ok := v.chroma(meta); ok {
		jobs = append(jobs, v.chromaJob(chromaDB, v.trusted(manifest, chromaDB)))
	}
	if manifest != nil {
		jobs = append(jobs, v.manifestJobs(manifest)...)
	}
	return v.runJobs(jobs)
}

// trusted reports whether rel's integrity follows from its digest (see
// Options.TrustIntegrity).
func (v *run) trusted(m *snapshot.Manifest, rel string) bool {
	if v.opts.KnownGood != nil && v.opts.KnownGood(rel) {
		return true
	}
	if !v.opts.TrustIntegrity || m == nil {
		return false
	}
	_, listed := m.Lookup(rel)
	return listed
}

// walk records every file under the snapshot directory.
func (v *run) walk() error {
	v.files = map[string]fs.FileInfo{}
	return afero.Walk(v.fsys, v.dir, func(p string, info fs.FileInfo, err error) error {
		if cerr := v.ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			v.fail(CodeManifestMismatch, "cannot read %s: %v", p, err)
			return nil
		}
		if info.IsDir() {
			return nil
		}
		rel, rerr := filepath.Rel(v.dir, p)
		if rerr != nil {
			return rerr
		}
		if v.opts.Ignore != nil && v.opts.Ignore(filepath.ToSlash(rel)) {
			return nil
		}
		if !info.Mode().IsRegular() {
			// Snapshots hold regular files only; a link could make a
			// restore read (and copy into the live state) anything.
			v.fail(CodeManifestMismatch, "%s is not a regular file (%s)", filepath.ToSlash(rel), info.Mode().Type())
		}
		v.files[filepath.ToSlash(rel)] = info
		return nil
	})
}

// Caps on the JSON files validation reads whole into memory: a snapshot
// may come from a target, which must not be able to make a validation
// read gigabytes.
const (
	// MaxMetadataSize caps backup-metadata.json (a few hundred bytes).
	MaxMetadataSize = 1 << 20
	// MaxManifestSize caps manifest.json (a few hundred bytes per file).
	MaxManifestSize = 64 << 20
	// maxRegistrySize is backup.MaxRegistrySize: create copies no larger
	// registry.
	maxRegistrySize = 8 << 20
)

func (v *run) metadata() *snapshot.Metadata {
	data, err := durable.ReadFileNoLinks(v.fsys, v.dir, snapshot.MetadataFile, MaxMetadataSize)
	if errors.Is(err, os.ErrNotExist) {
		v.fail(CodeMetadataMissing, "")
		return nil
	}
	if err != nil {
		v.fail(CodeMetadataMissing, "cannot read %s: %v", snapshot.MetadataFile, err)
		return nil
	}
	m, err := snapshot.DecodeMetadata(data)
	if err != nil {
		v.fail(CodeMetadataInvalid, "%v", errors.Unwrap(err))
		return nil
	}
	if m.Stamp != "" && v.res.Stamp != "" && m.Stamp != v.res.Stamp {
		v.warn(CodeStampMismatch, "metadata says %s", m.Stamp)
	}
	return m
}

func (v *run) manifest(meta *snapshot.Metadata) *snapshot.Manifest {
	data, err := durable.ReadFileNoLinks(v.fsys, v.dir, snapshot.ManifestFile, MaxManifestSize)
	if errors.Is(err, os.ErrNotExist) {
		// SPEC: a snapshot without a manifest validates with this warning
		// (the earlier Python implementation wrote none). Every other
		// check still runs; only the digests cannot be compared.
		if meta != nil && meta.ToolVersion != "" {
			v.warn(CodeManifestMissing, "no %s, though atocore-backup %s made this snapshot and always writes one: "+
				"file digests not checked; if it was removed by accident, take a new snapshot", snapshot.ManifestFile, meta.ToolVersion)
		} else {
			v.warn(CodeManifestMissing, "no %s (a snapshot from the earlier implementation?); file digests not checked", snapshot.ManifestFile)
		}
		return nil
	}
	if err != nil {
		v.fail(CodeManifestMismatch, "cannot read %s: %v", snapshot.ManifestFile, err)
		return nil
	}
	m, err := snapshot.DecodeManifest(data)
	if err != nil {
		v.fail(CodeManifestMismatch, "%v", err)
		return nil
	}
	return m
}

func (v *run) registry(meta *snapshot.Metadata) {
	data, err := durable.ReadFileNoLinks(v.fsys, v.dir, snapshot.RegistryFile, maxRegistrySize)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if meta != nil && meta.HasRegistry() {
			v.fail(CodeRegistryInvalid, "%s is missing", snapshot.RegistryFile)
		}
	case err != nil:
		v.fail(CodeRegistryInvalid, "cannot read %s: %v", snapshot.RegistryFile, err)
	case !json.Valid(data):
		var x any
		v.fail(CodeRegistryInvalid, "%v", json.Unmarshal(data, &x))
	}
}

// chroma checks the Chroma copy's presence and returns the path of its
// chroma.sqlite3 when there is one to check.
func (v *run) chroma(meta *snapshot.Metadata) (string, bool) {
	fi, err := v.fsys.Stat(filepath.Join(v.dir, snapshot.ChromaDir))
	present := err == nil && fi.IsDir()
	if !present {
		if meta != nil && meta.HasChroma() {
			v.fail(CodeChromaMissing, "metadata says Chroma was included; %s/ is not there", snapshot.ChromaDir)
		}
		return "", false
	}
	db := path.Join(snapshot.ChromaDir, snapshot.ChromaDBName)
	if _, ok := v.files[db]; !ok {
		v.fail(CodeChromaIntegrity, "%s is missing", db)
		return "", false
	}
	return db, true
}

// job is one independent check; jobs run on every core, biggest first.
type job struct {
	size int64
	name string // what it checks, a path under the snapshot
	run  func() error
}

// ErrCheckPanicked is wrapped by the error Dir returns when a check hit a
// bug (a panic) instead of a finding; the error names the file checked.
var ErrCheckPanicked = errors.New("validate: a check panicked")

// safeRun runs j, turning a panic into an error that names j's file, so a
// hostile file cannot kill the process that validates it.
func (j job) safeRun() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("checking %s: %w: %v", j.name, ErrCheckPanicked, p)
		}
	}()
	return j.run()
}

func (v *run) integrityJob(rel, code string) job {
	return job{size: v.files[rel].Size() * 2, name: rel, run: func() error {
		_, err := v.integrity(rel, code)
		return err
	}}
}

// integrity runs integrity_check on the database rel and reports a failure
// under code.
func (v *run) integrity(rel, code string) (bool, error) {
	res, err := sqlitedb.IntegrityCheckFS(v.ctx, v.fsys, filepath.Join(v.dir, filepath.FromSlash(rel)))
	if err != nil {
		return false, err
	}
	if !res.OK {
		v.fail(code, "%s: %s", rel, res.Detail)
	}
	return res.OK, nil
}

// chromaJob checks chroma.sqlite3 (integrity_check unless Quick) and then
// the segment directories it describes.
func (v *run) chromaJob(rel string, trusted bool) job {
	return job{size: v.files[rel].Size() * 2, name: rel + " and the Chroma segments", run: func() error {
		for _, side := range []string{"-wal", "-journal"} {
			if _, ok := v.files[rel+side]; ok {
				v.fail(CodeChromaIntegrity, "%s%s is in the copy: the database was copied as a file mid-transaction", rel, side)
			}
		}
		if !v.opts.Quick && !trusted {
			ok, err := v.integrity(rel, CodeChromaIntegrity)
			if err != nil || !ok {
				return err
			}
		}
		return v.chromaSegments(v.ctx, rel)
	}}
}

func (v *run) manifestJobs(m *snapshot.Manifest) []job {
	var jobs []job
	listed := m.Index()
	for rel := range v.files {
		if _, ok := listed[rel]; !ok && rel != snapshot.ManifestFile {
			v.fail(CodeManifestMismatch, "%s is not in the manifest", rel)
		}
	}
	for _, want := range m.Files {
		info, ok := v.files[want.Path]
		switch {
		case !ok:
			v.fail(CodeManifestMismatch, "%s is missing", want.Path)
		case !info.Mode().IsRegular():
			v.fail(CodeManifestMismatch, "%s is not a regular file", want.Path)
		case info.Size() != want.Size:
			v.fail(CodeManifestMismatch, "%s is %d bytes, manifest says %d", want.Path, info.Size(), want.Size)
		case !v.opts.Quick && (v.opts.SkipDigest == nil || !v.opts.SkipDigest(want.Path)) &&
			(v.opts.KnownGood == nil || !v.opts.KnownGood(want.Path)):
			progress.Plan(v.ctx, want.Size)
			jobs = append(jobs, job{size: want.Size, name: want.Path, run: func() error {
				d, err := durable.HashFile(v.ctx, v.fsys, filepath.Join(v.dir, filepath.FromSlash(want.Path)))
				if err != nil {
					if v.ctx.Err() != nil {
						return v.ctx.Err()
					}
					v.fail(CodeManifestMismatch, "%s: %v", want.Path, err)
					return nil
				}
				if d.SHA256 != want.SHA256 || d.Size != want.Size {
					v.fail(CodeManifestMismatch, "%s: sha256 differs from the manifest", want.Path)
				}
				return nil
			}})
		}
	}
	return jobs
}

// runJobs runs the checks on GOMAXPROCS workers, largest first so that the
// long integrity_check of the database overlaps the hashing of everything else.
func (v *run) runJobs(jobs []job) error {
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(b.size, a.size) })
	work := make(chan job)
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range work {
				if err := j.safeRun(); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, j := range jobs {
		if v.ctx.Err() != nil {
			break
		}
		work <- j
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := v.ctx.Err(); err != nil {
		return err
	}
	for err := range errs {
		return fmt.Errorf("validate %s: %w", v.dir, err)
	}
	return nil
}
