package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	atobuild "github.com/atocore/atocore-backup/internal/buildinfo"
	"github.com/atocore/atocore-backup/internal/config"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// built is the one package the tests read: a real build for this host's
// architecture (zstd, because xz of 40 MB takes half a minute; .ci/run
// builds the xz release for both architectures).
var built struct {
	once sync.Once
	out  string // the output directory, removed by TestMain
	res  *Result
	deb  string // the .deb
	root string // its contents, extracted
	err  error
}

func hostDeb(t *testing.T) (deb, root string) {
	t.Helper()
	testutil.Tool(t, "dpkg-deb")
	testutil.Tool(t, "git")
	if _, ok := debArch[runtime.GOARCH]; !ok || runtime.GOOS != "linux" {
		if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("no release for %s/%s: CI must run where the .deb is built", runtime.GOOS, runtime.GOARCH)
		}
		t.Skipf("no release for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	built.once.Do(func() {
		out, err := os.MkdirTemp("", "atocore-dist-test-")
		if err != nil {
			built.err = err
			return
		}
		built.out = out
		built.res, built.err = Build(context.Background(), Options{Out: out, Arches: []string{runtime.GOARCH}, Compress: "zstd"})
		if built.err != nil {
			return
		}
		built.deb = built.res.Debs[0]
		built.root = filepath.Join(out, "root")
		built.err = exec.Command("dpkg-deb", "-x", built.deb, built.root).Run()
	})
	if built.err != nil {
		t.Fatalf("Build: %v", built.err)
	}
	return built.deb, built.root
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.out != "" {
		os.RemoveAll(built.out)
	}
	os.Exit(code)
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// entry is one line of dpkg-deb -c.
type entry struct{ mode, owner, path string }

func contents(t *testing.T, deb string) []entry {
	var es []entry
	for _, line := range strings.Split(strings.TrimSpace(output(t, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		es = append(es, entry{mode: f[0], owner: f[1], path: strings.TrimPrefix(f[len(f)-1], ".")})
	}
	return es
}

func TestDebHoldsTheRelease(t *testing.T) {
	deb, _ := hostDeb(t)
	want := []string{
		"/usr/bin/atocore-backup", "/usr/bin/offsite-sync", "/usr/bin/atocore-admin-server",
		"/usr/share/bash-completion/completions/atocore-backup",
		"/usr/share/bash-completion/completions/offsite-sync",
		"/usr/share/bash-completion/completions/atocore-admin-server",
		"/usr/share/zsh/vendor-completions/_atocore-backup",
		"/usr/share/zsh/vendor-completions/_offsite-sync",
		"/usr/share/zsh/vendor-completions/_atocore-admin-server",
		"/usr/share/fish/vendor_completions.d/atocore-backup.fish",
		"/usr/share/fish/vendor_completions.d/offsite-sync.fish",
		"/usr/share/fish/vendor_completions.d/atocore-admin-server.fish",
		"/etc/atocore-backup/config.toml.example",
		"/etc/default/atocore-backup", "/etc/default/atocore-offsite",
		"/lib/systemd/system/atocore-backup.service",
		"/lib/systemd/system/atocore-backup.timer",
		"/lib/systemd/system/atocore-offsite.service",
		"/lib/systemd/system/atocore-replicate.service",
		"/usr/share/doc/atocore-backup/README.md",
		"/usr/share/doc/atocore-backup/runbook.md",
		"/usr/share/doc/atocore-backup/retention.md",
		"/usr/share/doc/atocore-backup/offsite.md",
		"/usr/share/doc/atocore-backup/monitoring.md",
		"/usr/share/doc/atocore-backup/replication.md",
	}
	// Man pages: one per command, so the list grows with the CLIs; these
	// must be there, and nothing else may be in man1.
	wantMan := []string{"atocore-backup.1.gz", "atocore-backup-create.1.gz", "atocore-backup-restore.1.gz", "offsite-sync.1.gz", "atocore-admin-server.1.gz"}
	var got, man []string
	for _, e := range contents(t, deb) {
		if e.owner != "root/root" {
			t.Errorf("%s owned by %s, want root/root", e.path, e.owner)
		}
		if strings.HasSuffix(e.path, "/") {
			if e.mode != "drwxr-xr-x" {
				t.Errorf("directory %s has mode %s", e.path, e.mode)
			}
			continue
		}
		wantMode := "-rw-r--r--"
		if strings.HasPrefix(e.path, "/usr/bin/") {
			wantMode = "-rwxr-xr-x"
		}
		if e.mode != wantMode {
			t.Errorf("%s has mode %s, want %s", e.path, e.mode, wantMode)
		}
		if dir, name := filepath.Split(e.path); dir == "/usr/share/man/man1/" {
			if !strings.HasSuffix(name, ".1.gz") {
				t.Errorf("man1 holds %s, not a section-1 page compressed", name)
			}
			man = append(man, name)
			continue
		}
		got = append(got, e.path)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files outside man1:\n got %q\nwant %q", got, want)
	}
	for _, m := range wantMan {
		if !slices.Contains(man, m) {
			t.Errorf("no man page %s among %q", m, man)
		}
	}

	fields := output(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture")
	wantFields := "Package: atocore-backup\nVersion: " + atobuild.Version + "\nArchitecture: " + debArch[runtime.GOARCH] + "\n"
	if fields != wantFields {
		t.Errorf("control fields:\n%s\nwant\n%s", fields, wantFields)
	}
	conffiles := output(t, "dpkg-deb", "-I", deb, "conffiles")
	if conffiles != "/etc/atocore-backup/config.toml.example\n/etc/default/atocore-backup\n/etc/default/atocore-offsite\n" {
		t.Errorf("conffiles:\n%s", conffiles)
	}
}

// The same commit gives the same package, byte for byte: an operator can
// rebuild a .deb and compare it with the one they were given.
func TestDebIsReproducible(t *testing.T) {
	deb, _ := hostDeb(t)
	res, err := Build(context.Background(), Options{Out: t.TempDir(), Arches: []string{runtime.GOARCH}, Compress: "zstd"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(res.Debs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of one commit differ: %s (%d bytes) and %s (%d bytes)", deb, len(a), res.Debs[0], len(b))
	}
}

// Installing must enable and start nothing: the operator sets the paths
// first. The maintainer scripts only make systemd reread its units.
func TestDebEnablesNothing(t *testing.T) {
	deb, _ := hostDeb(t)
	ctl := t.TempDir()
	output(t, "dpkg-deb", "-e", deb, ctl)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		b, err := os.ReadFile(filepath.Join(ctl, s))
		if err != nil {
			t.Fatal(err)
		}
		for _, word := range []string{"enable", "start", "restart", "deb-systemd"} {
			if regexp.MustCompile(`\b` + word + `\b`).Match(b) {
				t.Errorf("%s says %q:\n%s", s, word, b)
			}
		}
	}
}

func TestBinariesAreStaticAndCarryTheRevision(t *testing.T) {
	_, root := hostDeb(t)
	head := strings.TrimSpace(output(t, "git", "rev-parse", "HEAD"))
	for _, p := range programs {
		bin := filepath.Join(root, "usr/bin", p.name)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not static", p.name)
			}
		}
		f.Close()
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		// The tree may have uncommitted changes here (then a clone's
		// HEAD is built, or the revision reads -dirty): the commit is
		// HEAD's either way.
		for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "vcs": "git", "vcs.revision": head} {
			if settings[k] != v {
				t.Errorf("%s: build setting %s=%q, want %q", p.name, k, settings[k], v)
			}
		}
	}
	// The build's own check passes them, and refuses another commit or
	// another architecture.
	bin := filepath.Join(root, "usr/bin/atocore-backup")
	if err := checkBinary(bin, runtime.GOARCH, head); err != nil {
		t.Errorf("checkBinary: %v", err)
	}
	if err := checkBinary(bin, runtime.GOARCH, "0123456789abcdef0123456789abcdef01234567"); err == nil || !strings.Contains(err.Error(), "carries revision") {
		t.Errorf("checkBinary with another commit = %v, want refused", err)
	}
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	if err := checkBinary(bin, other, head); err == nil || !strings.Contains(err.Error(), "ELF machine") {
		t.Errorf("checkBinary as %s = %v, want refused", other, err)
	}
	for _, name := range []string{"atocore-backup", "offsite-sync"} {
		v := output(t, filepath.Join(root, "usr/bin", name), "--version")
		if !strings.HasPrefix(v, name+" "+atobuild.Version+" (revision "+head) {
			t.Errorf("%s --version = %q, want the revision %s", name, v, head)
		}
	}
}

func TestManPagesAndCompletions(t *testing.T) {
	_, root := hostDeb(t)
	f, err := os.Open(filepath.Join(root, "usr/share/man/man1/atocore-backup-create.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte(".TH")) || !bytes.Contains(page, []byte("include-chroma")) {
		t.Errorf("atocore-backup-create.1 is not the create command's page:\n%.400s", page)
	}
	bash := testutil.Tool(t, "bash")
	for _, name := range []string{"atocore-backup", "offsite-sync"} {
		script := filepath.Join(root, "usr/share/bash-completion/completions", name)
		output(t, bash, "-n", script)
		b, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(" "+name+"\n")) && !bytes.Contains(b, []byte(" "+name+" ")) {
			t.Errorf("%s's bash completion does not register for %s", name, name)
		}
		fish, err := os.ReadFile(filepath.Join(root, "usr/share/fish/vendor_completions.d", name+".fish"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(fish, []byte("complete -c "+name)) {
			t.Errorf("%s.fish does not complete %s", name, name)
		}
	}
}

// The units as shipped pass systemd-analyze verify: known keys, existing
// executables, the man pages of Documentation=. The binaries are not
// installed here, so the copies verified point ExecStart at the extracted
// ones; .ci/run verifies the installed units unchanged.
func TestUnitsVerify(t *testing.T) {
	_, root := hostDeb(t)
	sa := testutil.Tool(t, "systemd-analyze")
	testutil.Tool(t, "man") // for Documentation=man:...
	dir := t.TempDir()
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join(root, "lib/systemd/system", u))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("=/usr/bin/"), []byte("="+filepath.Join(root, "usr/bin")+"/"))
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	cmd := exec.Command(sa, append([]string{"verify"}, paths...)...)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/share/man"))
	out, err := cmd.CombinedOutput()
	// Unknown keys are only warnings: any line printed is a failure.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// unit parses a unit file into section → key → values.
func unit(t *testing.T, name string) map[string]map[string][]string {
	t.Helper()
	b, err := files.ReadFile("files/systemd/" + name)
	if err != nil {
		t.Fatal(err)
	}
	u := map[string]map[string][]string{}
	var sec string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			sec = strings.Trim(line, "[]")
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("%s: line %q", name, line)
			}
			u[sec][k] = append(u[sec][k], v)
		}
	}
	return u
}

// The off-site copy runs after every backup, carrying the snapshot just
// made: the backup pulls it in once it is enabled, and it is ordered
// after the backup has finished. It has no clock of its own to drift from
// the backup's (the old 03:30 cron line ran 30 minutes before the backup).
func TestOffsiteRunsAfterTheBackup(t *testing.T) {
	off := unit(t, "atocore-offsite.service")
	if !slices.ContainsFunc(off["Unit"]["After"], func(v string) bool { return slices.Contains(strings.Fields(v), "atocore-backup.service") }) {
		t.Errorf("atocore-offsite.service After=%q lacks atocore-backup.service", off["Unit"]["After"])
	}
	if got := off["Install"]["WantedBy"]; !slices.Equal(got, []string{"atocore-backup.service"}) {
		t.Errorf("atocore-offsite.service WantedBy=%q, want atocore-backup.service", got)
	}
	if _, err := files.ReadFile("files/systemd/atocore-offsite.timer"); err == nil {
		t.Error("an atocore-offsite.timer exists: the off-site copy must follow the backup, not a clock")
	}
	if !slices.Contains(units, "atocore-offsite.service") {
		t.Error("atocore-offsite.service is not shipped")
	}
	timer := unit(t, "atocore-backup.timer")
	if got := timer["Timer"]["OnCalendar"]; !slices.Equal(got, []string{"*-*-* 04:00:00 UTC"}) {
		t.Errorf("backup timer OnCalendar=%q", got)
	}
	if got := timer["Timer"]["Persistent"]; !slices.Equal(got, []string{"true"}) {
		t.Errorf("backup timer Persistent=%q", got)
	}
}

// Enabling the off-site service (the one step the docs give) links it
// into the backup's wants, so that each backup start pulls it in.
func TestEnablingTheOffsiteServiceHooksItToTheBackup(t *testing.T) {
	_, root := hostDeb(t)
	sc := testutil.Tool(t, "systemctl")
	sys := t.TempDir()
	if err := os.CopyFS(filepath.Join(sys, "lib/systemd/system"), os.DirFS(filepath.Join(root, "lib/systemd/system"))); err != nil {
		t.Fatal(err)
	}
	output(t, sc, "--root="+sys, "enable", "atocore-offsite.service", "atocore-backup.timer")
	for link, want := range map[string]string{
		"etc/systemd/system/atocore-backup.service.wants/atocore-offsite.service": "/lib/systemd/system/atocore-offsite.service",
		"etc/systemd/system/timers.target.wants/atocore-backup.timer":             "/lib/systemd/system/atocore-backup.timer",
	} {
		got, err := os.Readlink(filepath.Join(sys, link))
		if err != nil || got != want {
			t.Errorf("after enable, %s -> %q (%v), want %s", link, got, err, want)
		}
	}
}

func TestUnitsAreHardened(t *testing.T) {
	for _, name := range []string{"atocore-backup.service", "atocore-offsite.service"} {
		svc := unit(t, name)["Service"]
		for k, v := range map[string]string{
			"Type": "oneshot", "ProtectSystem": "strict",
			"NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectHome": "yes",
			"EnvironmentFile": "-/etc/default/" + strings.TrimSuffix(name, ".service"),
		} {
			if !slices.Equal(svc[k], []string{v}) {
				t.Errorf("%s: %s=%q, want %q", name, k, svc[k], v)
			}
		}
		// The root, and node_exporter's textfile directory where it exists.
		if got, want := svc["ReadWritePaths"], []string{"/srv/storage/atocore", "-/var/lib/prometheus/node-exporter"}; !slices.Equal(got, want) {
			t.Errorf("%s: ReadWritePaths=%q, want %q", name, got, want)
		}
	}
	// An Environment= root would override the config file's (the
	// environment comes before the file); the off-site job reads no file.
	if env := unit(t, "atocore-backup.service")["Service"]["Environment"]; len(env) > 0 {
		t.Errorf("atocore-backup.service sets Environment=%q: it would override /etc/atocore-backup/config.toml", env)
	}
	if got := unit(t, "atocore-backup.service")["Service"]["ExecStart"]; !slices.Equal(got, []string{"/usr/bin/atocore-backup create --include-chroma --kind scheduled --prune --wait"}) {
		t.Errorf("atocore-backup.service ExecStart=%q", got)
	}
}

// The services run as root with only the capabilities of
// CapabilityBoundingSet=. Those must do: the backup of a root whose every
// file belongs to another user, 0700 and 0600 (as the AtoCore container
// leaves it), twice (the second links from the first), and the off-site
// push of it. Without them the same runs are refused, so the files really
// are out of reach otherwise. setpriv drops the capabilities as systemd
// would; the rest of the sandbox needs systemd and is checked by
// systemd-analyze only.
func TestUnitCapabilitiesSuffice(t *testing.T) {
	_, root := hostDeb(t)
	if os.Geteuid() != 0 {
		if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
			t.Fatal("needs root (CI runs as root): the units run as root with fewer capabilities")
		}
		t.Skip("needs root: the units run as root with fewer capabilities")
	}
	setpriv := testutil.Tool(t, "setpriv")
	caps := func(name string) string {
		set := unit(t, name)["Service"]["CapabilityBoundingSet"]
		if len(set) != 1 {
			t.Fatalf("%s: CapabilityBoundingSet=%q", name, set)
		}
		arg := "-all"
		for _, c := range strings.Fields(set[0]) {
			arg += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
		}
		return arg
	}
	data := t.TempDir()
	if _, err := sample.Generate(context.Background(), data, sample.Options{Seed: 16, DBBytes: 1 << 20, ChromaBytes: 1 << 20, Segments: 1}); err != nil {
		t.Fatal(err)
	}
	const owner = 65534 // nobody: not root
	err := filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if d.IsDir() {
			mode = 0o700
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		return os.Lchown(p, owner, owner)
	})
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	runAs := func(bounding, prog string, args ...string) (string, error) {
		cmd := exec.Command(setpriv, append([]string{"--bounding-set", bounding, "--inh-caps", "-all", "--no-new-privs",
			filepath.Join(root, "usr/bin", prog)}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "ATOCORE_ROOT=" + data}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	backup := caps("atocore-backup.service")
	if out, err := runAs("-all", "atocore-backup", "create", "--include-chroma", "--kind", "scheduled", "--prune", "--wait"); err == nil {
		t.Fatalf("create with no capabilities succeeded: the fixture is not out of reach\n%s", out)
	}
	for i := 0; i < 2; i++ {
		if out, err := runAs(backup, "atocore-backup", "create", "--include-chroma", "--kind", "scheduled", "--prune", "--wait"); err != nil {
			t.Fatalf("create %d with %s: %v\n%s", i+1, backup, err, out)
		}
	}
	if out, err := runAs(backup, "atocore-backup", "validate", "latest"); err != nil {
		t.Fatalf("validate with %s: %v\n%s", backup, err, out)
	}
	offsite := caps("atocore-offsite.service")
	if err := os.Chmod(filepath.Join(data, "backups"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(data, "backups"), owner, owner); err != nil {
		t.Fatal(err)
	}
	push := []string{"--target", "file://" + target, "--allow-unsigned"}
	if out, err := runAs("-all", "offsite-sync", push...); err == nil {
		t.Fatalf("offsite-sync with no capabilities succeeded: the fixture is not out of reach\n%s", out)
	}
	if out, err := runAs(offsite, "offsite-sync", push...); err != nil {
		t.Fatalf("offsite-sync with %s: %v\n%s", offsite, err, out)
	}
}

// The example configuration is one the tool accepts, with every key it
// shows real: copied to config.toml unchanged, it works.
func TestExampleConfigParses(t *testing.T) {
	b, err := files.ReadFile("files/config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("config.toml.example", b)
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	if c.Root != "/srv/storage/atocore" || len(c.Targets) != 1 || c.Targets[0].KnownHosts == "" || c.Policy.KeepDaily == nil {
		t.Errorf("the example sets root %q, %d targets, policy %+v", c.Root, len(c.Targets), c.Policy)
	}
	// Every commented-out key is a real one too: uncomment them all.
	uncommented := regexp.MustCompile(`(?m)^# ?([a-z_]+ *= )`).ReplaceAll(b, []byte("$1"))
	uncommented = regexp.MustCompile(`(?m)^# (\[\[target\]\])`).ReplaceAll(uncommented, []byte("$1"))
	c, err = config.Parse("config.toml.example, uncommented", uncommented)
	if err != nil {
		t.Fatalf("config.Parse of the example with its comments' keys: %v\n%s", err, uncommented)
	}
	if len(c.Targets) != 2 || c.MetricsFile == "" || c.DBPath == "" {
		t.Errorf("uncommented: %d targets, metrics_file %q, db_path %q", len(c.Targets), c.MetricsFile, c.DBPath)
	}
}

// The docs shipped in the package agree with the units: every cron line
// that runs offsite-sync runs it after the backup, on the same line.
func TestDocsRunTheOffsiteCopyAfterTheBackup(t *testing.T) {
	cron := regexp.MustCompile(`^([0-9*/,-]+ ){5}\S+ `) // five time fields and a user
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join("..", d))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if !cron.MatchString(line) || !strings.Contains(line, "offsite-sync") {
				continue
			}
			create := strings.Index(line, "atocore-backup create")
			before := line[:strings.Index(line, "offsite-sync")]
			then := max(strings.LastIndex(before, "; "), strings.LastIndex(before, "&& "))
			if create < 0 || then < create {
				t.Errorf("%s:%d: offsite-sync is not run after the backup (`atocore-backup create ...; offsite-sync ...`):\n%s", d, i+1, line)
			}
		}
	}
}

// jq is not part of this package (only suggested): a doc with a recipe
// that runs it says so.
func TestDocsSayJqIsSeparate(t *testing.T) {
	runsJq := regexp.MustCompile("(^|[|(;&]) *jq ")
	for _, d := range append(slices.Clone(docs), "docs/formats.md", "docs/design.md", "docs/reliability.md", "docs/performance.md") {
		b, err := os.ReadFile(filepath.Join("..", d))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if runsJq.MatchString(line) && !bytes.Contains(b, []byte("`jq` is a separate tool")) {
				t.Errorf("%s runs jq (%q) but does not say \"`jq` is a separate tool\"", d, line)
				break
			}
		}
	}
}

func TestCheckBinaryRefusesDynamic(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	sh, _ = filepath.EvalSymlinks(sh)
	f, err := elf.Open(sh)
	if err != nil {
		t.Fatalf("%s: %v", sh, err)
	}
	dynamic := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
	f.Close()
	if !dynamic {
		t.Fatalf("%s is static: no dynamic binary to refuse", sh)
	}
	err = checkBinary(sh, runtime.GOARCH, "x")
	if err == nil || !strings.Contains(err.Error(), "must be static") {
		t.Errorf("checkBinary(%s) = %v, want it refused as dynamic", sh, err)
	}
}

func TestNotAGitCheckoutIsRefused(t *testing.T) {
	testutil.Tool(t, "git")
	dir := t.TempDir()
	_, err := gitSource(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "not a git checkout") || strings.Contains(err.Error(), "\n") {
		t.Errorf("gitSource(%s) = %v, want a one-line refusal", dir, err)
	}
}

func TestParseArches(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"amd64,arm64", []string{"amd64", "arm64"}, false},
		{" arm64 , arm64,", []string{"arm64"}, false},
		{"386", nil, true},
		{",", nil, true},
	} {
		got, err := parseArches(c.in)
		if (err != nil) != c.err || !slices.Equal(got, c.want) {
			t.Errorf("parseArches(%q) = %q, %v", c.in, got, err)
		}
	}
}
