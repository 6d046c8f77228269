package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/backup/admin"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// --- modes ---------------------------------------------------------------

// checkModes walks the backup directory: directories 0700, files 0600.
func checkModes(t *testing.T, backupDir string) (files, dirs int) {
	t.Helper()
	err := filepath.WalkDir(backupDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			dirs++
			if info.Mode().Perm() != 0o700 {
				t.Errorf("directory %s has mode %04o, want 0700", p, info.Mode().Perm())
			}
		case info.Mode().IsRegular():
			files++
			if info.Mode().Perm() != 0o600 {
				t.Errorf("file %s has mode %04o, want 0600", p, info.Mode().Perm())
			}
		default:
			t.Errorf("%s is neither a file nor a directory (%v)", p, info.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, dirs
}

// TestSecurityModesUnderUmaskZero runs the CLI with umask 0 on live files
// that are world-readable: every file the backup directory holds is still
// 0600 and every directory 0700, snapshots and pre-restore snapshots alike.
func TestSecurityModesUnderUmaskZero(t *testing.T) {
	t.Parallel()
	r := genRoot(t, 0, 0, 2)
	// A careless deployment: everything world-readable.
	_ = filepath.WalkDir(r.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if d.IsDir() {
				mode = 0o755
			}
			_ = os.Chmod(p, mode)
		}
		return err
	})
	bin := cliBin(t)
	umask0 := func(args ...string) cliResult {
		cmd := exec.Command("sh", append([]string{"-c", `umask 0; exec "$0" "$@"`, bin}, args...)...)
		cmd.Env = cliEnv(t)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return cliResult{code, out.String(), errb.String()}
	}
	res := umask0("create", "--include-chroma", "--root", r.Dir)
	if res.code != 0 {
		t.Fatalf("create: %d %s", res.code, res.stderr)
	}
	st := stampEntries(t, r.BackupDir)[0]
	sample.InsertMemory(context.Background(), r.DBPath, sample.Memory{Content: "umask"})
	if res := umask0("restore", st, "--confirm-service-stopped", "--root", r.Dir); res.code != 0 {
		t.Fatalf("restore: %d %s", res.code, res.stderr)
	}
	if len(snapshotsOfKind(t, configOf(r), backup.KindPreRestore)) != 1 {
		t.Fatal("no pre-restore snapshot")
	}
	files, dirs := checkModes(t, r.BackupDir)
	t.Logf("FIGURE modes: umask 0, world-readable live files: %d files all 0600, %d directories all 0700 in the backup directory", files, dirs)
}

// TestSecurityModesLibrary: the same through the library under the test
// process's umask, with a snapshot that failed validation in failed/.
func TestSecurityModesLibrary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := genRoot(t, 0, 0, 2)
	cfg := configOf(r)
	if _, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true}); err != nil {
		t.Fatal(err)
	}
	// A registry that is not JSON: the snapshot fails validation and is
	// kept in failed/.
	if err := os.WriteFile(r.RegistryPath, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Create(ctx, cfg, backup.CreateOptions{}); err == nil {
		t.Fatal("a snapshot with an invalid registry passed")
	}
	checkModes(t, r.BackupDir)
}

// --- symbolic links in the live Chroma directory -------------------------

func TestSecurityCreateRefusesChromaSymlinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("do not copy me"), 0o600); err != nil {
		t.Fatal(err)
	}
	segment := func(chroma string) string {
		entries, _ := os.ReadDir(chroma)
		for _, e := range entries {
			if e.IsDir() {
				return filepath.Join(chroma, e.Name())
			}
		}
		t.Fatal("no segment directory")
		return ""
	}
	cases := map[string]func(r *sample.Root){
		"file link to outside": func(r *sample.Root) {
			must(t, os.Symlink(secret, filepath.Join(r.ChromaPath, "evil")))
		},
		"segment file replaced by a link": func(r *sample.Root) {
			p := filepath.Join(segment(r.ChromaPath), "index_metadata.pickle")
			must(t, os.Rename(p, filepath.Join(outside, "pickle")))
			must(t, os.Symlink(filepath.Join(outside, "pickle"), p))
		},
		"directory link to outside": func(r *sample.Root) {
			must(t, os.Symlink(outside, filepath.Join(r.ChromaPath, "evil-dir")))
		},
		"link to a file inside": func(r *sample.Root) {
			must(t, os.Symlink("chroma.sqlite3", filepath.Join(r.ChromaPath, "alias.sqlite3")))
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			r := genRoot(t, 0, 0, 2)
			plant(r)
			before := treeState(t, outside)
			_, err := backup.Create(ctx, configOf(r), backup.CreateOptions{IncludeChroma: true})
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("library create: err = %v, want a refusal naming the symbolic link", err)
			}
			res := runCLI(t, "create", "--include-chroma", "--root", r.Dir)
			if res.code != 1 || !strings.Contains(res.stderr, "symbolic link") || res.stdout != "" {
				t.Fatalf("CLI create: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
			}
			if lines := strings.Count(strings.TrimSpace(res.stderr), "\n"); lines != 1 {
				t.Errorf("CLI stderr is %d lines (progress + one error expected): %q", lines+1, res.stderr)
			}
			if s := stampEntries(t, r.BackupDir); len(s) != 0 {
				t.Fatalf("a refused create left snapshots %v", s)
			}
			if l := leftovers(t, r.BackupDir); len(l) != 0 {
				t.Fatalf("a refused create left %v", l)
			}
			if _, err := os.Stat(filepath.Join(r.BackupDir, snapshot.FailedDir)); err == nil {
				t.Fatal("a refused create left a failed/ snapshot")
			}
			if !sameState(before, treeState(t, outside)) {
				t.Fatal("the directory outside changed")
			}
			t.Logf("refused: %v", err)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// --- secrets -------------------------------------------------------------------

// TestSecurityTokenNeverLeaks drives every route and error of the admin
// handler, with the right token, a wrong one and none, and looks for either
// token in every response (status line, headers, body) and in the log at
// Debug level.
func TestSecurityTokenNeverLeaks(t *testing.T) {
	t.Parallel()
	const token = "tok-8d5e2a71-the-real-secret"
	const wrong = "tok-wrong-guess-5f3c"
	r := genRoot(t, 0, 0, 2)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := configOf(r)
	cfg.Logger = logger
	h := admin.NewHandler(admin.Config{Backup: cfg, Authorize: admin.BearerToken(token), Logger: logger})
	broken := configOf(r)
	broken.DBPath = filepath.Join(r.Dir, "missing.db")
	hb := admin.NewHandler(admin.Config{Backup: broken, Authorize: admin.BearerToken(token), Logger: logger})

	var responses strings.Builder
	do := func(h http.Handler, method, target, body, auth string) int {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Fprintf(&responses, "%d %v %s\n", rec.Code, rec.Header(), rec.Body.String())
		return rec.Code
	}
	var stamp string
	for _, auth := range []string{"Bearer " + token, "Bearer " + wrong, "", "Basic " + token, "Bearer " + token + "x", "bearer " + token} {
		do(h, "POST", "/admin/backup", `{"include_chroma": true}`, auth)
		do(h, "POST", "/admin/backup", `{"include_chroma": "yes"}`, auth)
		do(h, "POST", "/admin/backup", `{"kind": "`+token+`"}`, auth)
		do(h, "POST", "/admin/backup", strings.Repeat("x", 10000), auth)
		do(h, "GET", "/admin/backup", "", auth)
		do(h, "GET", "/admin/backup/..%2Fevil/validate", "", auth)
		do(h, "GET", "/admin/backup/20200101T000000Z/validate", "", auth)
		do(h, "DELETE", "/admin/backup", "", auth)
		do(h, "GET", "/admin/nope?token="+token, "", auth)
		do(hb, "POST", "/admin/backup", `{}`, auth)
	}
	snaps, _ := backup.List(context.Background(), cfg)
	if len(snaps) == 0 {
		t.Fatal("no backup was made with the right token")
	}
	stamp = snaps[0].Stamp
	do(h, "GET", "/admin/backup/"+stamp+"/validate", "", "Bearer "+token)
	out := responses.String()
	for _, secret := range []string{token, wrong} {
		if strings.Contains(out, secret) {
			t.Errorf("a response contains %q:\n%s", secret, out)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log contains %q:\n%s", secret, logs.String())
		}
	}
	if err := admin.BearerToken(token)(httptest.NewRequest("GET", "/", nil)); err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("BearerToken's refusal: %v", err)
	}
	t.Logf("FIGURE secrets: %d responses and %d bytes of Debug log checked; no token found", strings.Count(out, "\n"), logs.Len())
}

// TestSecurityAdminServerLogs runs the example admin server with a token
// and checks its whole log (stderr) for it.
func TestSecurityAdminServerLogs(t *testing.T) {
	t.Parallel()
	const token = "tok-4c2d-server-process-secret"
	bin := filepath.Join(t.TempDir(), "admin-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/atocore/atocore-backup/examples/admin-server").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	r := genRoot(t, 0, 0, 2)
	cmd := exec.Command(bin, "--root", r.Dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(cliEnv(t), "ATOCORE_ADMIN_TOKEN="+token)
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	defer cmd.Process.Kill()
	var log bytes.Buffer
	lines := bufio.NewScanner(stderr)
	addrRE := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)
	var addr string
	for addr == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("the server never said where it listens:\n%s", log.String())
	}
	done := make(chan struct{})
	go func() { io.Copy(&log, stderr); close(done) }()
	var bodies strings.Builder
	for _, auth := range []string{"Bearer " + token, "Bearer wrong-" + token[:8], ""} {
		for _, rq := range [][2]string{{"POST", "/admin/backup"}, {"GET", "/admin/backup"}, {"GET", "/admin/backup/..%2Fx/validate"}} {
			req, _ := http.NewRequest(rq[0], "http://"+addr+rq[1], strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Fprintf(&bodies, "%d %v %s\n", resp.StatusCode, resp.Header, b)
		}
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	<-done
	_ = cmd.Wait()
	if strings.Contains(log.String(), token) || strings.Contains(log.String(), token[:8]) {
		t.Errorf("the server log contains the token:\n%s", log.String())
	}
	if strings.Contains(bodies.String(), token) {
		t.Errorf("a response contains the token:\n%s", bodies.String())
	}
	if !strings.Contains(log.String(), "admin request refused") {
		t.Errorf("refusals were not logged:\n%s", log.String())
	}
}

// TestSecurityTargetPasswordNeverEchoed: a password written into a target
// URL (which the tool refuses: keys or an agent only) never appears in
// what the CLI prints.
func TestSecurityTargetPasswordNeverEchoed(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-8f1e-secret"
	r := genRoot(t, 0, 0, 1)
	url := "sftp://alice:" + secret + "@127.0.0.1:1/srv/backups"
	for _, args := range [][]string{
		{"remote", "list", "--target", url},
		{"remote", "validate", "20260407T060000Z", "--target", url},
		{"push", "--root", r.Dir, "--target", url},
		{"pull", "20260407T060000Z", "--root", r.Dir, "--target", url},
	} {
		res := runCLI(t, args...)
		if res.code == 0 {
			t.Errorf("%v: accepted a password in the URL", args[:2])
		}
		if strings.Contains(res.stdout+res.stderr, secret) {
			t.Errorf("%v: the password is in the output:\n%s%s", args[:2], res.stdout, res.stderr)
		}
	}
}
