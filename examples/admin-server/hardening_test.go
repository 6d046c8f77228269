package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
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

func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "admin-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs the server binary with args and env, waits until it
// says where it listens, and stops it with SIGTERM at the end of the test.
func startProcess(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("the server did not stop cleanly: %v", err)
		}
		cancel()
	})
	addrRE := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			return m[1]
		}
	}
	t.Fatal("the server never said where it listens")
	return ""
}

// refusal runs the server with args and env and expects it to refuse to
// start: exit 2, one line on stderr that contains want.
func refusal(t *testing.T, bin string, env []string, want string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	out := strings.TrimRight(stderr.String(), "\n")
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Contains(out, "\n") || !strings.Contains(out, want) {
		t.Errorf("%v: %v, stderr %q; want exit 2 and one line with %q", args, err, out, want)
	}
}

func TestTokenFile(t *testing.T) {
	bin := buildServer(t)
	r := testutil.Root(t)
	dir := t.TempDir()
	file := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := []string{"--root", r.Dir, "--listen", "127.0.0.1:0"}
	missing := filepath.Join(dir, "missing")
	refusal(t, bin, nil, missing, append(base, "--token-file", missing)...)
	empty := file("empty", "\n", 0o600)
	refusal(t, bin, nil, "empty", append(base, "--token-file", empty)...)
	loose := file("loose", "tok\n", 0o644)
	refusal(t, bin, nil, "chmod 600", append(base, "--token-file", loose)...)
	good := file("good", "file-tok\n", 0o600)
	refusal(t, bin, []string{"ATOCORE_ADMIN_TOKEN=env-tok"}, "only one", append(base, "--token-file", good)...)
	refusal(t, bin, nil, "--token-file", append(base, "--token-file", good, "--insecure-no-auth")...)

	addr := startProcess(t, bin, nil, append(base, "--token-file", good)...)
	for header, want := range map[string]int{"Bearer file-tok": 200, "bearer file-tok": 200, "Bearer file-tok\n": 200, "Bearer env-tok": 401, "": 401} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/admin/backup", nil)
		if header != "" {
			req.Header.Set("Authorization", strings.TrimSpace(header))
		}
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", header, resp.StatusCode, want)
		}
	}
}

// The timeouts are flags, and the server applies them: an idle
// keep-alive connection and a client that never ends its header are
// both closed.
func TestServerTimeouts(t *testing.T) {
	bin := buildServer(t)
	r := testutil.Root(t)
	addr := startProcess(t, bin, []string{"ATOCORE_ADMIN_TOKEN=tok"}, "--root", r.Dir, "--listen", "127.0.0.1:0",
		"--idle-timeout", "300ms", "--read-header-timeout", "300ms")
	closedWithin := func(conn net.Conn, limit time.Duration) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(limit))
		_, err := io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server kept the connection open for %v", limit)
		}
	}
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /health: %v %v", resp, err)
	}
	closedWithin(idle, 10*time.Second)

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET /admin/backup HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	closedWithin(slow, 10*time.Second)
}

// Without authorization, only requests addressed to a loopback name and
// carrying JSON get through: a web page in the operator's browser can
// neither rebind a name to 127.0.0.1 nor POST a form.
func TestNoAuthGuards(t *testing.T) {
	bin := buildServer(t)
	r := testutil.Root(t)
	addr := startProcess(t, bin, nil, "--root", r.Dir, "--listen", "127.0.0.1:0", "--insecure-no-auth")
	for _, tc := range []struct {
		host, contentType string
		want              int
	}{
		{"evil.example", "application/json", 403},
		{"evil.example:" + addr[strings.LastIndex(addr, ":")+1:], "application/json", 403},
		{"", "text/plain", 415},
		{"", "application/x-www-form-urlencoded", 415},
		{"", "application/json", 200},
	} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/admin/backup", strings.NewReader(`{}`))
		if tc.host != "" {
			req.Host = tc.host
		}
		req.Header.Set("Content-Type", tc.contentType)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST Host %q Content-Type %q: %d %s, want %d", tc.host, tc.contentType, resp.StatusCode, body, tc.want)
		}
	}
}
