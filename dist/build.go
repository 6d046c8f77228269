package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	atobuild "github.com/atocore/atocore-backup/internal/buildinfo"
)

// program is one of the commands the release ships.
type program struct {
	pkg  string // the Go package, relative to the module root
	name string // installed as /usr/bin/<name>
	// cobra: it has the `man DIR` and `completion SHELL` commands.
	cobra bool
}

// programs are the commands in the package. offsite-sync keeps the name it
// gives itself in its help, man page, completions and error lines (which
// the docs tell operators to alert on); the admin server, which prints no
// name of its own anywhere an operator reads, is prefixed so that
// /usr/bin says whose server it is.
var programs = []program{
	{pkg: "./examples/atocore-backup", name: "atocore-backup", cobra: true},
	{pkg: "./examples/offsite-sync", name: "offsite-sync", cobra: true},
	{pkg: "./examples/admin-server", name: "atocore-admin-server", cobra: true},
}

// Options says what Build makes.
type Options struct {
	// Out is the output directory (default: dist/out in the module).
	Out string
	// Arches are the GOARCH values to build for linux (default amd64, arm64).
	Arches []string
	// Compress is dpkg-deb's compressor: xz (default: the smallest, and
	// every dpkg reads it), gzip, or zstd (fast; dpkg 1.21.18 or later).
	Compress string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

// Result is what Build made.
type Result struct {
	Version  string
	Revision string // the commit the binaries carry, "-dirty" when the tree had changes
	// Bins maps an architecture to the directory of its binaries.
	Bins map[string]string
	// Debs are the packages, in the order of Options.Arches.
	Debs []string
}

// Build compiles the programs for each architecture, checks that each
// binary is static and carries the revision, generates the man pages and
// completions with a binary for this host, and assembles one .deb per
// architecture.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Compress == "" {
		o.Compress = "xz"
	}
	if len(o.Arches) == 0 {
		o.Arches = []string{"amd64", "arm64"}
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	if o.Out == "" {
		o.Out = filepath.Join(root, "dist", "out")
	}
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		return nil, errors.New("dpkg-deb not on PATH: install Debian's dpkg package (apt-get install dpkg)")
	}
	src, err := gitSource(ctx, root)
	if err != nil {
		return nil, err
	}
	if src.worktree {
		// go build reads VCS information only where .git is a directory,
		// so a worktree's binaries would say "unknown": build its HEAD
		// from a clone instead.
		tmp, err := os.MkdirTemp("", "atocore-dist-src-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		fmt.Fprintf(o.Log, "dist: %s is a git worktree, whose builds carry no revision: building its HEAD %s from a clone", root, strings.TrimSuffix(src.revision, "-dirty"))
		if src.dirty {
			fmt.Fprint(o.Log, " (the uncommitted changes are not in it)")
		}
		fmt.Fprintln(o.Log)
		if err := run1(ctx, "", "git", "clone", "--quiet", "--shared", "--no-checkout", root, tmp); err != nil {
			return nil, err
		}
		if err := run1(ctx, tmp, "git", "checkout", "--quiet", "--detach", strings.TrimSuffix(src.revision, "-dirty")); err != nil {
			return nil, err
		}
		root = tmp
		if src, err = gitSource(ctx, root); err != nil {
			return nil, err
		}
	}
	if src.dirty {
		fmt.Fprintf(o.Log, "dist: the work tree has uncommitted changes: the binaries' revision reads %s\n", src.revision)
	}
	res := &Result{Version: atobuild.Version, Revision: src.revision, Bins: map[string]string{}}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	for _, arch := range o.Arches {
		dir := filepath.Join(o.Out, "linux_"+arch)
		if err := compile(ctx, root, "linux", arch, dir, programs, o.Log); err != nil {
			return nil, err
		}
		for _, p := range programs {
			if err := checkBinary(filepath.Join(dir, p.name), arch, src.revision); err != nil {
				return nil, err
			}
		}
		res.Bins[arch] = dir
	}

	// Man pages and completions come from the programs themselves, so
	// they run here: this host's build if one was made, else one more.
	hostDir, ok := res.Bins[runtime.GOARCH]
	if runtime.GOOS != "linux" || !ok {
		tmp, err := os.MkdirTemp("", "atocore-dist-host-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		hostDir = tmp
		if err := compile(ctx, root, runtime.GOOS, runtime.GOARCH, hostDir, programs, o.Log); err != nil {
			return nil, err
		}
	}
	gen, err := generate(ctx, hostDir)
	if err != nil {
		return nil, err
	}

	for _, arch := range o.Arches {
		deb := filepath.Join(o.Out, fmt.Sprintf("atocore-backup_%s_%s.deb", res.Version, debArch[arch]))
		files, err := packageFiles(root, res.Bins[arch], gen)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "dist: packaging %s\n", deb)
		if err := buildDeb(ctx, deb, control(res.Version, debArch[arch]), files, src.time, o.Compress); err != nil {
			return nil, err
		}
		res.Debs = append(res.Debs, deb)
	}
	return res, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the atocore-backup module: run go run ./dist from the repository")
	}
	return filepath.Dir(mod), nil
}

// source is the commit the release is built from.
type source struct {
	revision string    // as the binaries report it: the commit, "-dirty" if changed
	dirty    bool      // the work tree has uncommitted changes (or untracked files)
	worktree bool      // .git is a file (a worktree or submodule), which go build does not read
	time     time.Time // the commit's time: every file's mtime in the package
}

// gitSource refuses a tree that is not a git checkout: go build would then
// stamp no revision, and the snapshots would record build_sha "unknown".
func gitSource(ctx context.Context, root string) (source, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	line, err := git("log", "-1", "--format=%H %ct")
	if err != nil {
		return source{}, fmt.Errorf("%s is not a git checkout with a commit (%v): the binaries would carry no revision and snapshots would record build_sha \"unknown\"; build from a clone", root, err)
	}
	rev, ct, _ := strings.Cut(line, " ")
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return source{}, fmt.Errorf("git log: commit time %q: %w", ct, err)
	}
	// What go build calls modified: any change to tracked files, and
	// untracked files that are not ignored.
	status, err := git("status", "--porcelain")
	if err != nil {
		return source{}, err
	}
	fi, err := os.Stat(filepath.Join(root, ".git"))
	if err != nil {
		return source{}, fmt.Errorf("%s is not the top of its git checkout (%v): run go run ./dist from the repository's top", root, err)
	}
	s := source{revision: rev, dirty: status != "", worktree: !fi.IsDir(), time: time.Unix(secs, 0).UTC()}
	if s.dirty {
		s.revision += "-dirty"
	}
	return s, nil
}

// run1 runs a command in dir, its output kept for the error only.
func run1(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// compile builds each program for goos/goarch into dir/<name>: static
// (CGO_ENABLED=0), without local paths (-trimpath), stamped with the VCS
// revision (-buildvcs=true overrides a GOFLAGS=-buildvcs=false).
func compile(ctx context.Context, root, goos, goarch, dir string, progs []program, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range progs {
		fmt.Fprintf(log, "dist: go build %s for %s/%s\n", p.pkg, goos, goarch)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=true", "-ldflags=-s -w",
			"-o", filepath.Join(dir, p.name), p.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s for %s/%s: %v: %s", p.pkg, goos, goarch, err, strings.TrimSpace(stderr.String()))
		}
	}
	return nil
}

// elfMachine is the ELF machine of each architecture a release is built for.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkBinary refuses a binary that is not what the package promises: an
// ELF executable for arch with no program interpreter (static: it runs on
// any Linux of that architecture), built without cgo and carrying the
// commit of revision.
func checkBinary(path, arch, revision string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elfMachine[arch] {
		return fmt.Errorf("%s: ELF machine %v, want %v for %s", path, f.Machine, elfMachine[arch], arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: has a program interpreter (dynamically linked); it must be static", path)
		}
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: build info: %w", path, err)
	}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	if got["CGO_ENABLED"] != "0" {
		return fmt.Errorf("%s: built with CGO_ENABLED=%q, want 0", path, got["CGO_ENABLED"])
	}
	// The commit, not the dirty mark: a file that appears in the tree while
	// go builds (another test's output) may change the mark, not the commit.
	if rev, want := got["vcs.revision"], strings.TrimSuffix(revision, "-dirty"); rev != want {
		return fmt.Errorf("%s: carries revision %q, want %q", path, rev, want)
	}
	return nil
}

// generated are the files the programs write about themselves.
type generated struct {
	man         map[string][]byte // name.1 → roff
	completions map[string]map[string][]byte
}

// shells are the completion scripts shipped, with the Debian path of each
// (%s is the program's name).
var shells = []struct{ shell, path string }{
	{"bash", "/usr/share/bash-completion/completions/%s"},
	{"zsh", "/usr/share/zsh/vendor-completions/_%s"},
	{"fish", "/usr/share/fish/vendor_completions.d/%s.fish"},
}

// generate runs the host's binaries in dir: `man DIR` and `completion SHELL`.
func generate(ctx context.Context, dir string) (*generated, error) {
	g := &generated{man: map[string][]byte{}, completions: map[string]map[string][]byte{}}
	mandir, err := os.MkdirTemp("", "atocore-dist-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(mandir)
	runs := func(bin string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	for _, p := range programs {
		if !p.cobra {
			continue
		}
		bin := filepath.Join(dir, p.name)
		if _, err := runs(bin, "man", mandir); err != nil {
			return nil, err
		}
		g.completions[p.name] = map[string][]byte{}
		for _, s := range shells {
			out, err := runs(bin, "completion", s.shell)
			if err != nil {
				return nil, err
			}
			if len(out) == 0 {
				return nil, fmt.Errorf("%s completion %s printed nothing", p.name, s.shell)
			}
			g.completions[p.name][s.shell] = out
		}
	}
	pages, err := filepath.Glob(filepath.Join(mandir, "*.1"))
	if err != nil {
		return nil, err
	}
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			return nil, err
		}
		g.man[filepath.Base(page)] = b
	}
	for _, p := range programs {
		if _, ok := g.man[p.name+".1"]; p.cobra && !ok {
			return nil, fmt.Errorf("%s man wrote no %s.1", p.name, p.name)
		}
	}
	return g, nil
}
