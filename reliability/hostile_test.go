package reliability_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/backup/admin"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/validate"
)

// Hostile input: hand-crafted snapshots and traversal stamps.

// --- hostile snapshots -------------------------------------------------------

// copyTree copies src to a new tree dst (files 0600), keeping symlinks.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		}
		return cloneFile(p, target)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// reseal rewrites a snapshot's manifest.json from what is on disk, so that
// a hand-made change passes the digest checks. Symbolic links are listed
// with the digest of what they point to, as a careless tool would.
func reseal(t *testing.T, dir string) {
	t.Helper()
	var files []snapshot.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == snapshot.ManifestFile {
			return nil
		}
		dg, err := durable.HashFile(context.Background(), osFS, p)
		if err != nil {
			return err
		}
		info, _ := os.Lstat(p)
		files = append(files, snapshot.File{Path: rel, Size: info.Size(), SHA256: dg.SHA256, Mode: "0600"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writeManifest(t, dir, files)
}

func writeManifest(t *testing.T, dir string, files []snapshot.File) {
	t.Helper()
	m := &snapshot.Manifest{Files: files}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, snapshot.ManifestFile), data, 0o600))
}

// pythonStyle makes dir look like a snapshot of the earlier Python
// implementation: no manifest.json and no tool_version in the metadata.
// Validation then cannot check digests or file types from a manifest.
func pythonStyle(t *testing.T, dir string) {
	t.Helper()
	must(t, os.Remove(filepath.Join(dir, snapshot.ManifestFile)))
	p := filepath.Join(dir, snapshot.MetadataFile)
	data, err := os.ReadFile(p)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(data, &m))
	for _, k := range []string{"tool_version", "format_version", "build_sha", "validated", "validation_errors"} {
		delete(m, k)
	}
	data, err = json.MarshalIndent(m, "", "  ")
	must(t, err)
	must(t, os.WriteFile(p, data, 0o600))
}

// hostile is one hand-crafted snapshot.
type hostile struct {
	name string
	// craft turns the copy of a good snapshot in dir into the hostile one;
	// outside is a directory of canaries outside every live path.
	craft func(t *testing.T, dir, outside string)
	// mayRestore: the snapshot is harmless and may be restored (its
	// content is still that of the good snapshot).
	mayRestore bool
	// legacy: a Python-style snapshot (no manifest), whose file types
	// validation does not check today (see the known bug).
	legacy bool
}

func firstSegment(t *testing.T, chroma string) string {
	t.Helper()
	entries, err := os.ReadDir(chroma)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			return e.Name()
		}
	}
	t.Fatal("no segment")
	return ""
}

var hostileSnapshots = []hostile{
	{name: "chroma file symlink to outside, resealed", craft: func(t *testing.T, dir, outside string) {
		must(t, os.Symlink(filepath.Join(outside, "victim"), filepath.Join(dir, "chroma", "evil")))
		reseal(t, dir)
	}},
	{name: "chroma file symlink to outside, no manifest", legacy: true, craft: func(t *testing.T, dir, outside string) {
		must(t, os.Symlink(filepath.Join(outside, "victim"), filepath.Join(dir, "chroma", "evil")))
		pythonStyle(t, dir)
	}},
	{name: "segment file replaced by symlink, resealed", craft: func(t *testing.T, dir, outside string) {
		p := filepath.Join(dir, "chroma", firstSegment(t, filepath.Join(dir, "chroma")), "index_metadata.pickle")
		must(t, os.Rename(p, filepath.Join(outside, "pickle")))
		must(t, os.Symlink(filepath.Join(outside, "pickle"), p))
		reseal(t, dir)
	}},
	{name: "segment file replaced by symlink, no manifest", legacy: true, craft: func(t *testing.T, dir, outside string) {
		p := filepath.Join(dir, "chroma", firstSegment(t, filepath.Join(dir, "chroma")), "index_metadata.pickle")
		must(t, os.Rename(p, filepath.Join(outside, "pickle2")))
		must(t, os.Symlink(filepath.Join(outside, "pickle2"), p))
		pythonStyle(t, dir)
	}},
	{name: "segment directory is a symlink to outside, no manifest", craft: func(t *testing.T, dir, outside string) {
		seg := firstSegment(t, filepath.Join(dir, "chroma"))
		p := filepath.Join(dir, "chroma", seg)
		must(t, os.Rename(p, filepath.Join(outside, "segdir")))
		must(t, os.Symlink(filepath.Join(outside, "segdir"), p))
		pythonStyle(t, dir)
	}},
	{name: "chroma directory is a symlink to outside, no manifest", craft: func(t *testing.T, dir, outside string) {
		p := filepath.Join(dir, "chroma")
		must(t, os.Rename(p, filepath.Join(outside, "chromadir")))
		must(t, os.Symlink(filepath.Join(outside, "chromadir"), p))
		pythonStyle(t, dir)
	}},
	{name: "manifest entry ../ outside", craft: func(t *testing.T, dir, outside string) {
		reseal(t, dir)
		data, _ := os.ReadFile(filepath.Join(dir, snapshot.ManifestFile))
		m, err := snapshot.DecodeManifest(data)
		must(t, err)
		rel, _ := filepath.Rel(dir, filepath.Join(outside, "victim"))
		dg, _ := durable.HashFile(context.Background(), osFS, filepath.Join(outside, "victim"))
		writeManifest(t, dir, append(m.Files, snapshot.File{Path: filepath.ToSlash(rel), Size: dg.Size, SHA256: dg.SHA256, Mode: "0600"}))
	}},
	{name: "manifest entry chroma/../../x", craft: func(t *testing.T, dir, outside string) {
		reseal(t, dir)
		data, _ := os.ReadFile(filepath.Join(dir, snapshot.ManifestFile))
		m, err := snapshot.DecodeManifest(data)
		must(t, err)
		m.Files = append(m.Files, snapshot.File{Path: "chroma/../../x", Size: 1, SHA256: strings.Repeat("0", 64), Mode: "0600"})
		writeManifest(t, dir, m.Files)
	}},
	{name: "database is a symlink, resealed", craft: func(t *testing.T, dir, outside string) {
		p := filepath.Join(dir, filepath.FromSlash(snapshot.DBFile))
		must(t, os.Rename(p, filepath.Join(outside, "snap.db")))
		must(t, os.Symlink(filepath.Join(outside, "snap.db"), p))
		reseal(t, dir)
	}},
	{name: "database is a symlink, no manifest", legacy: true, craft: func(t *testing.T, dir, outside string) {
		p := filepath.Join(dir, filepath.FromSlash(snapshot.DBFile))
		must(t, os.Rename(p, filepath.Join(outside, "snap2.db")))
		must(t, os.Symlink(filepath.Join(outside, "snap2.db"), p))
		pythonStyle(t, dir)
	}},
	{name: "metadata paths point outside", mayRestore: true, craft: func(t *testing.T, dir, outside string) {
		p := filepath.Join(dir, snapshot.MetadataFile)
		data, _ := os.ReadFile(p)
		m, err := snapshot.DecodeMetadata(data)
		must(t, err)
		out := filepath.Join(outside, "chromadir-decoy")
		m.BackupRoot = outside
		m.DBSnapshotPath = filepath.Join(outside, "victim.db")
		m.ChromaSnapshotPath = &out
		m.RegistrySnapshotPath = &out
		data, err = m.Encode()
		must(t, err)
		must(t, os.WriteFile(p, data, 0o600))
		reseal(t, dir)
	}},
}

// TestSecurityRestoreHostileSnapshots restores hand-crafted snapshots
// (symbolic links in chroma/, manifest entries leaving the snapshot,
// metadata naming outside paths). Whatever each does, nothing outside the
// live paths and the backup directory is written, and a snapshot that is
// refused is refused before the live state changes.
func TestSecurityRestoreHostileSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := genRoot(t, 0, 0, 2)
	cfg := configOf(r)
	good, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	goodDir := snapshot.Dir(r.BackupDir, good.Stamp)
	outside := filepath.Join(t.TempDir(), "outside")
	must(t, os.MkdirAll(outside, 0o700))
	must(t, os.WriteFile(filepath.Join(outside, "victim"), []byte("canary"), 0o600))
	must(t, cloneFile(filepath.Join(goodDir, filepath.FromSlash(snapshot.DBFile)), filepath.Join(outside, "victim.db")))
	base, _ := snapshot.ParseStamp(good.Stamp)
	var late, accepted []string
	for i, h := range hostileSnapshots {
		t.Run(h.name, func(t *testing.T) {
			stamp := snapshot.FormatStamp(base.Add(-time.Duration(i+1) * time.Hour))
			dir := snapshot.Dir(r.BackupDir, stamp)
			copyTree(t, goodDir, dir)
			h.craft(t, dir, outside)
			// The live state differs from the snapshot, so any change shows.
			_, err := sample.InsertMemory(ctx, r.DBPath, sample.Memory{Content: "hostile " + h.name})
			must(t, err)
			fpBefore := fingerprint(t, r.DBPath)
			chromaBefore := treeState(t, r.ChromaPath)
			outsideBefore := treeState(t, outside)
			rootBefore := topLevel(t, r.Dir)

			res, err := restore.Run(ctx, cfg, stamp, restore.Options{ConfirmServiceStopped: true})
			if !sameState(outsideBefore, treeState(t, outside)) {
				t.Errorf("the directory outside changed: %s", diffState(outsideBefore, treeState(t, outside)))
			}
			if got := topLevel(t, r.Dir); got != rootBefore {
				t.Errorf("the root's top level changed: %s -> %s", rootBefore, got)
			}
			if l := liveLeftovers(t, r); len(l) > 0 {
				t.Errorf("left %v beside the live paths", l)
			}
			switch {
			case err == nil && h.mayRestore:
				t.Logf("restored (harmless): warnings %v", res.Warnings)
			case err == nil && h.legacy:
				accepted = append(accepted, h.name)
				t.Logf("restored, reading through the symlink: %+v", res)
			case err == nil:
				t.Errorf("the hostile snapshot was restored: %+v", res)
			default:
				changed := fingerprint(t, r.DBPath) != fpBefore || !sameState(chromaBefore, treeState(t, r.ChromaPath))
				if changed {
					late = append(late, h.name)
					t.Logf("refused AFTER changing the live state: %v", err)
				} else {
					t.Logf("refused before any change: %v", oneLineErr(err))
				}
			}
			// Back to a known state for the next case.
			if _, err := restore.Run(ctx, cfg, good.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true}); err != nil {
				t.Fatal(err)
			}
			must(t, os.RemoveAll(dir))
		})
	}
	t.Logf("FIGURE hostile snapshots: %d crafted, 0 wrote outside the live paths, %d refused only after the live state changed %v, %d restored through a symlink %v",
		len(hostileSnapshots), len(late), late, len(accepted), accepted)
	if len(late)+len(accepted) > 0 {
		knownBug(t, "legacy-snapshot-symlinks", "validation of a snapshot without manifest does not refuse symbolic links: restore refused %v only after replacing the live database, and restored %v by reading through the link", late, accepted)
	}
}

func oneLineErr(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// topLevel names the entries of dir.
func topLevel(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}

// TestSecurityRestoreLiveChromaSymlink: a symbolic link inside the live
// Chroma directory is removed as a link when restore clears the directory;
// what it points to is never touched.
func TestSecurityRestoreLiveChromaSymlink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := genRoot(t, 0, 0, 2)
	cfg := configOf(r)
	s, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
	must(t, err)
	outside := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(outside, "dir"), 0o700))
	must(t, os.WriteFile(filepath.Join(outside, "dir", "keep"), []byte("keep"), 0o600))
	must(t, os.WriteFile(filepath.Join(outside, "file"), []byte("keep"), 0o600))
	must(t, os.Symlink(filepath.Join(outside, "dir"), filepath.Join(r.ChromaPath, "link-dir")))
	must(t, os.Symlink(filepath.Join(outside, "file"), filepath.Join(r.ChromaPath, "link-file")))
	before := treeState(t, outside)
	if _, err := restore.Run(ctx, cfg, s.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true}); err != nil {
		t.Fatal(err)
	}
	if !sameState(before, treeState(t, outside)) {
		t.Fatalf("restore changed what a live symlink pointed to: %s", diffState(before, treeState(t, outside)))
	}
	for _, l := range []string{"link-dir", "link-file"} {
		if _, err := os.Lstat(filepath.Join(r.ChromaPath, l)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived the restore", l)
		}
	}
}

// --- traversal stamps --------------------------------------------------------

var traversalStamps = []string{
	"../evil", "..", ".", "", "../../data", "/etc", "/etc/passwd",
	"20260407T060000Z/..", "20260407T060000Z/../../evil", "..\\evil", "%2e%2e", "%2e%2e%2fevil",
	"20260407T060000Z\x00", " 20260407T060000Z", "20260407T060000Z\n", "20260407T060000Z/", "./20260407T060000Z",
	"２0260407T060000Z",
}

// traversalRoot is a root with a valid snapshot, and valid-looking decoys
// where traversal stamps would land: backups/evil and root/evil.
func traversalRoot(t *testing.T) (*sample.Root, string) {
	t.Helper()
	r := genRoot(t, 0, 0, 2)
	m, err := backup.Create(context.Background(), configOf(r), backup.CreateOptions{IncludeChroma: true})
	must(t, err)
	src := snapshot.Dir(r.BackupDir, m.Stamp)
	copyTree(t, src, filepath.Join(r.BackupDir, "evil"))
	copyTree(t, src, filepath.Join(r.Dir, "evil"))
	return r, m.Stamp
}

func TestSecurityTraversalStampsCLI(t *testing.T) {
	t.Parallel()
	r, _ := traversalRoot(t)
	fp := fingerprint(t, r.DBPath)
	before := treeState(t, r.BackupDir)
	n := 0
	for _, st := range traversalStamps {
		if strings.ContainsRune(st, 0) {
			continue // cannot be a command-line argument
		}
		for _, args := range [][]string{
			{"validate", st, "--root", r.Dir},
			{"restore", st, "--confirm-service-stopped", "--root", r.Dir},
			{"restore", "--root", r.Dir, "--confirm-service-stopped", "--", st},
			{"pull", st, "--target", r.BackupDir, "--root", r.Dir},
			{"remote", "validate", st, "--target", r.BackupDir},
		} {
			n++
			res := runCLI(t, args...)
			if res.code != 2 || res.stdout != "" || strings.Count(strings.TrimRight(res.stderr, "\n"), "\n") != 0 || res.stderr == "" {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2, one line on stderr", args, res.code, res.stdout, res.stderr)
			}
		}
	}
	if fingerprint(t, r.DBPath) != fp {
		t.Error("the live database changed")
	}
	if after := treeState(t, r.BackupDir); !sameState(before, after) {
		t.Errorf("the backup directory changed: %s", diffState(before, after))
	}
	t.Logf("FIGURE traversal CLI: %d refused invocations", n)
}

func TestSecurityTraversalStampsLibrary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := traversalRoot(t)
	cfg := configOf(r)
	fp := fingerprint(t, r.DBPath)
	tgt, err := target.Local(r.BackupDir)
	must(t, err)
	pullDir := t.TempDir()
	pullCfg := cfg
	pullCfg.BackupDir = pullDir
	before := treeState(t, r.BackupDir)
	for _, st := range traversalStamps {
		if _, err := backup.ParseStamp(st); !errors.Is(err, backup.ErrBadStamp) {
			t.Errorf("ParseStamp(%q) = %v", st, err)
		}
		if res, err := validate.Snapshot(ctx, nil, r.BackupDir, st); !errors.Is(err, backup.ErrBadStamp) || res != nil {
			t.Errorf("validate.Snapshot(%q) = %v, %v; want ErrBadStamp", st, res, err)
		}
		if res, err := restore.Run(ctx, cfg, st, restore.Options{ConfirmServiceStopped: true}); !errors.Is(err, backup.ErrBadStamp) || res != nil {
			t.Errorf("restore.Run(%q) = %v, %v; want ErrBadStamp", st, res, err)
		}
		// The off-site entry points, on a local target whose snapshots/
		// has the decoy beside it.
		if res, err := offsite.Pull(ctx, pullCfg, tgt, st, offsite.Opening{}); !errors.Is(err, backup.ErrBadStamp) {
			t.Errorf("offsite.Pull(%q) = %v, %v; want ErrBadStamp", st, res, err)
		}
		if res, err := offsite.Validate(ctx, tgt, st, offsite.Opening{}); !errors.Is(err, backup.ErrBadStamp) {
			t.Errorf("offsite.Validate(%q) = %v, %v; want ErrBadStamp", st, res, err)
		}
	}
	if entries, _ := os.ReadDir(pullDir); len(entries) != 0 {
		t.Errorf("a refused pull wrote into %s", pullDir)
	}
	if fingerprint(t, r.DBPath) != fp {
		t.Error("the live database changed")
	}
	if after := treeState(t, r.BackupDir); !sameState(before, after) {
		t.Errorf("the backup directory changed: %s", diffState(before, after))
	}
}

func TestSecurityTraversalStampsHTTP(t *testing.T) {
	t.Parallel()
	r, good := traversalRoot(t)
	const token = "tok-3b1f0c9e-never-logged"
	h := admin.NewHandler(admin.Config{Backup: configOf(r), Authorize: admin.BearerToken(token)})
	get := func(target string) (int, string) {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/admin/backup/" + good + "/validate"); code != 200 || !strings.Contains(body, `"valid": true`) {
		t.Fatalf("the good snapshot: %d %s", code, body)
	}
	n := 0
	for _, st := range traversalStamps {
		for _, target := range []string{
			"/admin/backup/" + url.PathEscape(st) + "/validate",
			"/admin/backup/" + strings.ReplaceAll(url.PathEscape(st), ".", "%2e") + "/validate",
			"/admin/backup/" + st + "/validate",
		} {
			if _, err := url.ParseRequestURI(target); err != nil || strings.ContainsAny(target, " \n\x00") {
				continue // not a valid request line
			}
			n++
			code, body := get(target)
			if code == 200 || strings.Contains(body, `"valid"`) {
				t.Errorf("GET %q: %d %s", target, code, body)
			}
			if code != 400 && code != 404 && code != 301 && code != 307 {
				t.Errorf("GET %q: status %d, want 400, 404 or a redirect", target, code)
			}
		}
	}
	t.Logf("FIGURE traversal HTTP: %d refused requests", n)
}
