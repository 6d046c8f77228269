package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/backup/admin"
	"github.com/atocore/atocore-backup/internal/testutil"
)

const token = "s3cret-token"

type reply struct {
	status int
	body   map[string]any
}

func do(t *testing.T, h http.Handler, method, path, body string, auth bool) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return reply{rec.Code, v}
}

func newHandler(t *testing.T, lock backup.Locker) (http.Handler, backup.Config) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	return admin.NewHandler(admin.Config{Backup: cfg, IngestionLock: lock, Authorize: admin.BearerToken(token)}), cfg
}

func TestRoutes(t *testing.T) {
	h, cfg := newHandler(t, nil)

	created := do(t, h, "POST", "/admin/backup", `{"include_chroma": true}`, true)
	if created.status != 200 || created.body["validated"] != true || created.body["include_chroma"] != true {
		t.Fatalf("POST: %+v", created)
	}
	stamp := created.body["stamp"].(string)
	if empty := do(t, h, "POST", "/admin/backup", ``, true); empty.status != 200 || empty.body["include_chroma"] != false {
		t.Fatalf("POST with an empty body: %+v", empty)
	}

	list := do(t, h, "GET", "/admin/backup", "", true)
	resolved, _ := cfg.Resolved()
	if list.status != 200 || list.body["backup_dir"] != resolved.BackupDir || len(list.body["backups"].([]any)) != 2 {
		t.Fatalf("GET list: %+v", list)
	}
	v := do(t, h, "GET", "/admin/backup/"+stamp+"/validate", "", true)
	if v.status != 200 || v.body["valid"] != true || v.body["stamp"] != stamp {
		t.Fatalf("validate: %+v", v)
	}
	if nf := do(t, h, "GET", "/admin/backup/20200101T000000Z/validate", "", true); nf.status != 404 || nf.body["error"] != admin.ErrCodeNotFound {
		t.Fatalf("unknown stamp: %+v", nf)
	}
	for _, bad := range []string{"..%2F..%2Fetc", "20260407T060000", "x", "20260407T060000Z%2F..", "%2e%2e"} {
		if r := do(t, h, "GET", "/admin/backup/"+bad+"/validate", "", true); r.status != 400 || r.body["error"] != admin.ErrCodeBadStamp {
			t.Fatalf("stamp %q: %+v", bad, r)
		}
	}
	if r := do(t, h, "DELETE", "/admin/backup", "", true); r.status != 405 {
		t.Fatalf("DELETE: %+v", r)
	}
	if r := do(t, h, "GET", "/admin/restore", "", true); r.status != 404 {
		t.Fatalf("restore over HTTP: %+v", r)
	}
}

func TestBadBodies(t *testing.T) {
	h, _ := newHandler(t, nil)
	for body, want := range map[string]int{
		`{"include_chroma": true, "extra": 1}`: 400,
		`{"include_chroma": "yes"}`:            400,
		`[1]`:                                  400,
		`{} {}`:                                400,
		`{"kind": "weekly"}`:                   400,
		`{"include_chroma": false}` + strings.Repeat(" ", 8<<10): 413,
	} {
		r := do(t, h, "POST", "/admin/backup", body, true)
		if r.status != want || r.body["detail"] == "" {
			t.Errorf("body %.40q: %+v, want %d", body, r, want)
		}
	}
}

func TestAuthorization(t *testing.T) {
	h, _ := newHandler(t, nil)
	for _, header := range []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token + "x"} {
		req := httptest.NewRequest("GET", "/admin/backup", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 || strings.Contains(rec.Body.String(), token) {
			t.Fatalf("Authorization %q: %d %s", header, rec.Code, rec.Body)
		}
	}
	if r := do(t, h, "GET", "/admin/backup", "", true); r.status != 200 {
		t.Fatalf("accepted token refused: %+v", r)
	}
	// An empty configured token refuses everything.
	closed := admin.NewHandler(admin.Config{Authorize: admin.BearerToken("")})
	req := httptest.NewRequest("GET", "/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer ")
	rec := httptest.NewRecorder()
	closed.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("empty token: %d", rec.Code)
	}
}

// blockingLock holds the first backup inside its Chroma copy until released.
type blockingLock struct {
	entered chan struct{}
	release chan struct{}
}

func (l *blockingLock) Lock(ctx context.Context) (func(), error) {
	close(l.entered)
	select {
	case <-l.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return func() {}, nil
}

func TestConcurrentBackupGets409(t *testing.T) {
	lock := &blockingLock{entered: make(chan struct{}), release: make(chan struct{})}
	h, _ := newHandler(t, lock)
	var first reply
	var wg sync.WaitGroup
	wg.Go(func() { first = do(t, h, "POST", "/admin/backup", `{"include_chroma": true}`, true) })
	select {
	case <-lock.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the first backup never reached the ingestion lock")
	}
	second := do(t, h, "POST", "/admin/backup", `{}`, true)
	close(lock.release)
	wg.Wait()
	if second.status != 409 || second.body["error"] != admin.ErrCodeBusy {
		t.Fatalf("concurrent POST: %+v", second)
	}
	if first.status != 200 {
		t.Fatalf("first POST: %+v", first)
	}
}

// Another process (here: a held directory lock) running a backup is a 409 too.
func TestBusyDirectoryGets409(t *testing.T) {
	h, cfg := newHandler(t, nil)
	l, err := backup.LockDir(context.Background(), cfg, "create", backup.Wait{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if r := do(t, h, "POST", "/admin/backup", `{}`, true); r.status != 409 || !strings.Contains(r.body["detail"].(string), "busy") {
		t.Fatalf("POST while the directory is locked: %+v", r)
	}
}

func FuzzDecodeBackupRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"include_chroma":true}`, `{"kind":"drill"}`, `{"x":1}`, `[]`, `{"include_chroma":true}{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := admin.DecodeBackupRequest(data)
		if err == nil && req.Kind != "manual" && req.Kind != "scheduled" {
			t.Fatalf("accepted kind %q over HTTP", req.Kind)
		}
	})
}
