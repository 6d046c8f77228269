package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup/admin"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// serve starts h on a real loopback listener.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// call sends one request over HTTP and decodes the JSON object it answers.
func call(t *testing.T, method, url, contentType, body string, header map[string]string) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	return resp.StatusCode, v, string(raw)
}

var bearer = map[string]string{"Authorization": "Bearer " + token}

// Snapshots a retention rule must keep (pre-restore) or that belong to the
// drill are not the HTTP API's to make.
func TestOnlyManualAndScheduledOverHTTP(t *testing.T) {
	h, _ := newHandler(t, nil)
	base := serve(t, h)
	for body, want := range map[string]int{
		`{"kind": "pre-restore"}`: 400,
		`{"kind": "drill"}`:       400,
		`{"kind": "scheduled"}`:   200,
		`{"kind": "manual"}`:      200,
	} {
		code, v, raw := call(t, "POST", base+"/admin/backup", "application/json", body, bearer)
		if code != want {
			t.Errorf("POST %s: %d %s, want %d", body, code, raw, want)
		}
		if want == 400 && (v["error"] != admin.ErrCodeBadRequest || !strings.Contains(v["detail"].(string), "manual or scheduled")) {
			t.Errorf("POST %s: %s", body, raw)
		}
	}
}

// A web page can POST text/plain or a form without a preflight; it cannot
// send application/json. Every POST must say application/json.
func TestPostRequiresJSONContentType(t *testing.T) {
	h, _ := newHandler(t, nil)
	base := serve(t, h)
	for _, tc := range []struct {
		contentType string
		want        int
	}{
		{"text/plain", 415},
		{"application/x-www-form-urlencoded", 415},
		{"multipart/form-data; boundary=x", 415},
		{"", 415},
		{"application/json;;", 415},
		{"application/json", 200},
		{"Application/JSON; charset=utf-8", 200},
	} {
		code, v, raw := call(t, "POST", base+"/admin/backup", tc.contentType, `{}`, bearer)
		if code != tc.want {
			t.Errorf("Content-Type %q: %d %s, want %d", tc.contentType, code, raw, tc.want)
		}
		if tc.want == 415 && v["error"] != admin.ErrCodeUnsupportedMediaType {
			t.Errorf("Content-Type %q: %s", tc.contentType, raw)
		}
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	h, _ := newHandler(t, nil)
	base := serve(t, h)
	for _, header := range []string{"bearer " + token, "BEARER " + token, "Bearer  " + token, "Bearer " + token} {
		if code, _, raw := call(t, "GET", base+"/admin/backup", "", "", map[string]string{"Authorization": header}); code != 200 {
			t.Errorf("Authorization %q: %d %s", header, code, raw)
		}
	}
	for _, header := range []string{"bearer", "bearer" + token, "Bearerx " + token, "bearer " + strings.ToUpper(token)} {
		if code, _, raw := call(t, "GET", base+"/admin/backup", "", "", map[string]string{"Authorization": header}); code != 401 {
			t.Errorf("Authorization %q: %d %s", header, code, raw)
		}
	}
}

// Validation reads and hashes a whole snapshot: one at a time, and a
// second one is told to come back.
func TestOneValidationAtATime(t *testing.T) {
	h, _ := newHandler(t, nil)
	base := serve(t, h)
	code, meta, raw := call(t, "POST", base+"/admin/backup", "application/json", `{}`, bearer)
	if code != 200 {
		t.Fatalf("POST: %d %s", code, raw)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	admin.SetValidateHook(h, func() {
		once.Do(func() {
			close(entered)
			select {
			case <-release:
			case <-time.After(time.Minute):
			}
		})
	})
	url := base + "/admin/backup/" + meta["stamp"].(string) + "/validate"
	var wg sync.WaitGroup
	var first int
	wg.Go(func() { first, _, _ = call(t, "GET", url, "", "", bearer) })
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first validation never started")
	}
	second, v, raw := call(t, "GET", url, "", "", bearer)
	close(release)
	wg.Wait()
	if second != http.StatusTooManyRequests || v["error"] != admin.ErrCodeBusy {
		t.Fatalf("second validation while one runs: %d %s", second, raw)
	}
	if first != 200 {
		t.Fatalf("first validation: %d", first)
	}
	// The slot is free again.
	if code, v, raw := call(t, "GET", url, "", "", bearer); code != 200 || v["valid"] != true {
		t.Fatalf("validation after the first finished: %d %s", code, raw)
	}
}

// Error bodies go to clients that need not know the server's layout: no
// absolute path in them (the log has the full error).
func TestErrorBodiesCarryNoAbsolutePath(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	h := admin.NewHandler(admin.Config{Backup: cfg, Authorize: admin.BearerToken(token)})
	base := serve(t, h)

	// 500: the live database is gone.
	if err := os.Rename(r.DBPath, r.DBPath+".away"); err != nil {
		t.Fatal(err)
	}
	code, _, raw := call(t, "POST", base+"/admin/backup", "application/json", `{}`, bearer)
	if code < 400 || strings.Contains(raw, r.Dir) || strings.Contains(raw, "/atocore.db") && strings.Contains(raw, "/data/") {
		t.Errorf("POST without a live database: %d %s", code, raw)
	}
	if err := os.Rename(r.DBPath+".away", r.DBPath); err != nil {
		t.Fatal(err)
	}
	// 500: the snapshots directory is a file.
	if err := os.MkdirAll(r.BackupDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.BackupDir, "snapshots"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, raw = call(t, "GET", base+"/admin/backup", "", "", bearer)
	if code != 500 || strings.Contains(raw, r.Dir) {
		t.Errorf("GET list over a broken backup directory: %d %s", code, raw)
	}
	// 404s: an unknown stamp, an unknown endpoint.
	for _, p := range []string{"/admin/backup/20200101T000000Z/validate", "/admin/nothing"} {
		code, _, raw = call(t, "GET", base+p, "", "", bearer)
		if code != 404 || strings.Contains(raw, r.BackupDir) {
			t.Errorf("GET %s: %d %s", p, code, raw)
		}
	}
}
