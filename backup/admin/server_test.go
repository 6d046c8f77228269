package admin_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup/admin"
)

// startServer serves h through admin.NewServer on a loopback port.
func startServer(t *testing.T, h http.Handler, cfg admin.ServerConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer(h, cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// waitClosed reads conn until the server closes it, and fails the test if
// that takes longer than limit. What the server sent before is returned.
func waitClosed(t *testing.T, conn net.Conn, limit time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit))
	data, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v (read %q)", limit, data)
	}
	return string(data), time.Since(start)
}

func TestNewServerDefaults(t *testing.T) {
	srv := admin.NewServer(http.NotFoundHandler(), admin.ServerConfig{})
	for name, got := range map[string][2]time.Duration{
		"ReadHeaderTimeout": {srv.ReadHeaderTimeout, admin.DefaultReadHeaderTimeout},
		"ReadTimeout":       {srv.ReadTimeout, admin.DefaultReadTimeout},
		"WriteTimeout":      {srv.WriteTimeout, admin.DefaultWriteTimeout},
		"IdleTimeout":       {srv.IdleTimeout, admin.DefaultIdleTimeout},
	} {
		if got[0] != got[1] || got[0] <= 0 {
			t.Errorf("%s = %v, want %v", name, got[0], got[1])
		}
	}
	if srv.MaxHeaderBytes != admin.DefaultMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
	set := admin.NewServer(http.NotFoundHandler(), admin.ServerConfig{IdleTimeout: time.Second, WriteTimeout: 2 * time.Hour})
	if set.IdleTimeout != time.Second || set.WriteTimeout != 2*time.Hour || set.ReadTimeout != admin.DefaultReadTimeout {
		t.Errorf("set values not kept: %+v", set)
	}
}

// A client that finished its request and stays connected (keep-alive)
// holds a descriptor: the server closes it after IdleTimeout.
func TestServerClosesIdleConnections(t *testing.T) {
	h, _ := newHandler(t, nil)
	addr := startServer(t, h, admin.ServerConfig{IdleTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, "GET /admin/backup HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+token+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("the first request: %d, close=%v", resp.StatusCode, resp.Close)
	}
	_, took := waitClosed(t, conn, 10*time.Second)
	if took < 200*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", took)
	}
}

// A client that sends half a request header and stops is cut off after
// ReadHeaderTimeout, authenticated or not.
func TestServerCutsOffSlowHeaders(t *testing.T) {
	h, _ := newHandler(t, nil)
	addr := startServer(t, h, admin.ServerConfig{ReadHeaderTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /admin/backup HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := waitClosed(t, conn, 10*time.Second)
	if strings.Contains(got, "200 OK") {
		t.Fatalf("answered a request whose header never ended: %q", got)
	}
}

// A client that sends its header and then trickles the body is cut off
// after ReadTimeout.
func TestServerCutsOffSlowBodies(t *testing.T) {
	h, _ := newHandler(t, nil)
	addr := startServer(t, h, admin.ServerConfig{ReadTimeout: 400 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /admin/backup HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+token+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	got, _ := waitClosed(t, conn, 10*time.Second)
	if strings.Contains(got, "200 OK") {
		t.Fatalf("a request whose body never arrived succeeded: %q", got)
	}
}

func TestLoopbackOnly(t *testing.T) {
	open := admin.NewHandler(admin.Config{Backup: mustConfig(t)})
	base := serve(t, admin.LoopbackOnly(open))
	port := base[strings.LastIndex(base, ":")+1:]
	for _, tc := range []struct {
		method, host, contentType string
		header                    map[string]string
		want                      int
	}{
		{"POST", "evil.example", "application/json", nil, 403},
		{"POST", "evil.example:" + port, "application/json", nil, 403},
		{"GET", "evil.example:" + port, "", nil, 403},
		{"GET", "127.0.0.1.evil.example:" + port, "", nil, 403},
		{"GET", "localhost.evil.example", "", nil, 403},
		{"POST", "127.0.0.1:" + port, "text/plain", nil, 415},
		{"POST", "127.0.0.1:" + port, "application/json", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"GET", "127.0.0.1:" + port, "", nil, 200},
		{"GET", "localhost:" + port, "", nil, 200},
		{"GET", "LOCALHOST", "", nil, 200},
		{"GET", "[::1]:" + port, "", nil, 200},
		{"GET", "127.0.0.2", "", nil, 200},
		{"POST", "localhost:" + port, "application/json", nil, 200},
	} {
		req, err := http.NewRequest(tc.method, base+"/admin/backup", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s Host %q %v: %d %s, want %d", tc.method, tc.host, tc.header, resp.StatusCode, body, tc.want)
		}
		if tc.want == 403 && (!strings.Contains(string(body), `"error"`) || resp.Header.Get("Content-Type") != "application/json") {
			t.Errorf("%s Host %q: refusal is not a JSON error: %s", tc.method, tc.host, body)
		}
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, data string
		mode       os.FileMode
		want       string // token, or "" for an error containing errPart
		errPart    string
	}{
		{"newline", "tok-1\n", 0o600, "tok-1", ""},
		{"crlf", "tok-2\r\n", 0o400, "tok-2", ""},
		{"bare", "tok-3", 0o600, "tok-3", ""},
		{"group", "tok-4\n", 0o640, "tok-4", ""},
		{"empty", "", 0o600, "", "empty"},
		{"only-newline", "\n", 0o600, "", "empty"},
		{"world-readable", "tok\n", 0o644, "", "chmod"},
		{"world-writable", "tok\n", 0o602, "", "chmod"},
		{"two-lines", "tok\nmore\n", 0o600, "", "one line"},
		{"space", "to k\n", 0o600, "", "one line"},
		{"huge", strings.Repeat("x", 5000), 0o600, "", "larger"},
	} {
		p := write(tc.name, tc.data, tc.mode)
		got, err := admin.ReadTokenFile(p)
		if tc.want != "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errPart) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %q, %v; want a one-line error naming %s and saying %q", tc.name, got, err, p, tc.errPart)
		}
		if got != "" || (err != nil && tc.data != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.data)) && len(tc.data) > 4) {
			t.Errorf("%s: the token leaked: %q, %v", tc.name, got, err)
		}
	}
	// Missing, a directory, a FIFO (which must not block the read).
	fifo := dir + "/fifo"
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir + "/missing", dir, fifo} {
		done := make(chan error, 1)
		go func() { _, err := admin.ReadTokenFile(p); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: %v", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadTokenFile(%s) blocked", p)
		}
	}
}

// A backup or a validation that outlasts ReadTimeout still completes:
// net/http cancels a request's context when the read deadline passes
// during the handler, so the handler lifts it once the request is read.
func TestLongOperationsOutlastReadTimeout(t *testing.T) {
	lock := &blockingLock{entered: make(chan struct{}), release: make(chan struct{})}
	h, _ := newHandler(t, lock)
	addr := startServer(t, h, admin.ServerConfig{ReadTimeout: 300 * time.Millisecond})
	base := "http://" + addr
	go func() {
		select {
		case <-lock.entered:
			time.Sleep(time.Second) // past ReadTimeout, inside the Chroma copy
			close(lock.release)
		case <-time.After(time.Minute):
		}
	}()
	code, meta, raw := call(t, "POST", base+"/admin/backup", "application/json", `{"include_chroma": true}`, bearer)
	if code != 200 {
		t.Fatalf("a backup longer than ReadTimeout: %d %s", code, raw)
	}
	admin.SetValidateHook(h, func() { time.Sleep(time.Second) })
	code, v, raw := call(t, "GET", base+"/admin/backup/"+meta["stamp"].(string)+"/validate", "", "", bearer)
	if code != 200 || v["valid"] != true {
		t.Fatalf("a validation longer than ReadTimeout: %d %s", code, raw)
	}
}
