package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/testutil"
)

// The server runs as a real process on a loopback port and is exercised
// over HTTP, then stopped with SIGTERM.
func TestServerProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "admin-server")
	build := exec.Command("go", "build", "-ldflags", "-X main.buildSHA=test-sha", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	r := testutil.Root(t)

	// No token: refuses to start.
	out, err := exec.Command(bin, "--root", r.Dir, "--listen", "127.0.0.1:0").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "ATOCORE_ADMIN_TOKEN") {
		t.Fatalf("started without a token: %v\n%s", err, out)
	}
	// --insecure-no-auth only on loopback.
	out, err = exec.Command(bin, "--root", r.Dir, "--listen", "0.0.0.0:0", "--insecure-no-auth").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "loopback") {
		t.Fatalf("no-auth on a public address: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--root", r.Dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ATOCORE_ADMIN_TOKEN=tok")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addrRE := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)
	lines := bufio.NewScanner(stderr)
	var addr string
	for addr == "" && lines.Scan() {
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("the server never said where it listens")
	}
	go io.Copy(io.Discard, stderr)
	base := "http://" + addr

	get := func(path, tok string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	if code, h := get("/health", ""); code != 200 || h["build_sha"] != "test-sha" || h["status"] != "ok" {
		t.Fatalf("/health: %d %v", code, h)
	}
	if code, _ := get("/admin/backup", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	req, _ := http.NewRequest("POST", base+"/admin/backup", strings.NewReader(`{"include_chroma": true}`))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if resp.StatusCode != 200 || meta["validated"] != true {
		t.Fatalf("POST: %d %v", resp.StatusCode, meta)
	}
	if code, v := get(fmt.Sprintf("/admin/backup/%s/validate", meta["stamp"]), "tok"); code != 200 || v["valid"] != true {
		t.Fatalf("validate: %d %v", code, v)
	}
	if code, l := get("/admin/backup", "tok"); code != 200 || len(l["backups"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, l)
	}

	// /metrics is served, behind the token.
	if code, _ := get("/metrics", ""); code != 401 {
		t.Fatalf("/metrics without a token: %d", code)
	}
	mreq, _ := http.NewRequest("GET", base+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer tok")
	mresp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if mresp.StatusCode != 200 || !strings.Contains(string(scrape), "atocore_backup_snapshots 1\n") ||
		!strings.Contains(string(scrape), "atocore_backup_last_create_success 1\n") {
		t.Fatalf("/metrics: %d\n%s", mresp.StatusCode, scrape)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful shutdown exit: %v", err)
	}
}

// --help and --version print on stdout and exit 0, as the other CLIs do;
// an unknown flag is one line, exit 2; man pages and completions exist.
func TestServerHelpAndVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "atocore-admin-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--help"}, {"--version"}, {"completion", "bash"}} {
		cmd := exec.Command(bin, args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "atocore-admin-server") || errb.Len() != 0 {
			t.Errorf("%v: %v, stdout %.200q, stderr %q", args, err, out.String(), errb.String())
		}
	}
	out, err := exec.Command(bin, "--bogus").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("--bogus: %v, %q", err, out)
	}
	dir := t.TempDir()
	if out, err := exec.Command(bin, "man", dir).CombinedOutput(); err != nil {
		t.Fatalf("man: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "atocore-admin-server.1")); err != nil {
		t.Error(err)
	}
}
