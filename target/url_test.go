package target_test

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/target"
)

func TestParseURL(t *testing.T) {
	ok := []struct {
		raw  string
		want target.URL
		str  string
	}{
		{"sftp://backup@host:2222/srv/atocore-offsite", target.URL{Scheme: "sftp", User: "backup", Host: "host", Port: 2222, Path: "/srv/atocore-offsite"}, "sftp://backup@host:2222/srv/atocore-offsite"},
		{"sftp://backup@host/srv/x/", target.URL{Scheme: "sftp", User: "backup", Host: "host", Port: 22, Path: "/srv/x"}, "sftp://backup@host/srv/x"},
		{"SFTP://host:22/a/../b", target.URL{Scheme: "sftp", Host: "host", Port: 22, Path: "/b"}, "sftp://host/b"},
		{"sftp://u@[::1]:2200/x", target.URL{Scheme: "sftp", User: "u", Host: "::1", Port: 2200, Path: "/x"}, "sftp://u@[::1]:2200/x"},
		{"sftp://u@[::1]/x", target.URL{Scheme: "sftp", User: "u", Host: "::1", Port: 22, Path: "/x"}, "sftp://u@[::1]/x"},
		{"sftp://u@10.0.0.5/a%20b", target.URL{Scheme: "sftp", User: "u", Host: "10.0.0.5", Port: 22, Path: "/a b"}, "sftp://u@10.0.0.5/a%20b"},
		{"file:///mnt/offsite", target.URL{Scheme: "file", Path: "/mnt/offsite"}, "file:///mnt/offsite"},
		{"file://localhost/mnt/offsite/", target.URL{Scheme: "file", Path: "/mnt/offsite"}, "file:///mnt/offsite"},
		{"/mnt/my backups", target.URL{Scheme: "file", Path: "/mnt/my backups"}, "file:///mnt/my%20backups"},
	}
	for _, tc := range ok {
		u, err := target.ParseURL(tc.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.raw, err)
			continue
		}
		if u != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.raw, u, tc.want)
		}
		if s := u.String(); s != tc.str {
			t.Errorf("ParseURL(%q).String() = %q, want %q", tc.raw, s, tc.str)
		}
	}
	bad := []struct{ raw, reason string }{
		{"", "empty"},
		{"relative/dir", "absolute path"},
		{"backup@host:/srv/x", "scp-style"},
		{"ftp://host/x", "unsupported scheme"},
		{"sftp://host", "must be absolute"},
		{"sftp://host/x?y=1", "queries"},
		{"sftp://host/x#frag", "queries"},
		{"sftp://u:hunter2@host/x", "passwords"},
		{"sftp://host:0/x", "port"},
		{"sftp://host:70000/x", "port"},
		{"sftp://::1/x", "invalid host"},
		{"sftp:///x", "missing host"},
		{"sftp://ho st/x", "not a valid URL"},
		{"file://otherhost/x", "file URL"},
		{"file://u@/x", "file URL"},
		{"sftp:host/x", "scp-style"},
		{"/a\x00b", "control"},
	}
	for _, tc := range bad {
		_, err := target.ParseURL(tc.raw)
		var ue *target.URLError
		if !errors.As(err, &ue) {
			t.Errorf("ParseURL(%q) = %v, want a *URLError", tc.raw, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.reason) || !strings.Contains(msg, "accepted forms: sftp://USER@HOST[:PORT]/ABS/PATH") || strings.Contains(msg, "\n") {
			t.Errorf("ParseURL(%q): %q; want one line with %q and the accepted forms", tc.raw, msg, tc.reason)
		}
	}
}

func TestURLErrorsHidePasswords(t *testing.T) {
	for _, raw := range []string{
		"sftp://u:hunter2@host/x",
		"sftp://u:hunter2@host:99999/x",
		"sftp://u:hunter2@ho st/x",
		"sftp://u:hun/ter2@host/x",
		"ftp://u:hunter2@host/x",
		"u:hunter2@host:/x",
		"sftp://u:hunter2@host/x?q",
	} {
		_, err := target.ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q) accepted a password", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ter2") {
			t.Errorf("ParseURL(%q) leaks the password: %v", raw, err)
		}
		if _, err := target.Open(t.Context(), raw, target.Options{}); err == nil || strings.Contains(err.Error(), "ter2") {
			t.Errorf("Open(%q) = %v", raw, err)
		}
	}
}

func TestOpenLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a")
	for _, raw := range []string{dir, "file://" + dir} {
		tgt, err := target.Open(t.Context(), raw, target.Options{Create: true})
		if err != nil {
			t.Fatalf("Open(%q): %v", raw, err)
		}
		if tgt.URL() != "file://"+dir || tgt.Root() != "/" {
			t.Errorf("URL %q root %q", tgt.URL(), tgt.Root())
		}
		tgt.Close()
	}
}

// FuzzParseURL: ParseURL never panics; what it accepts round-trips through
// String and carries no password; what it refuses does not echo one.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"sftp://backup@host:2222/srv/atocore-offsite",
		"sftp://host/x",
		"sftp://u@[::1]:22/x",
		"sftp://u@[fe80::1%25eth0]:22/x", // refused: zone
		"sftp://u:secret@host/x",
		"sftp://u:se/cret@host/x",
		"sftp://%75ser@host/a%2Fb",
		"file:///mnt/offsite",
		"file://localhost/x",
		"/mnt/offsite",
		"/",
		"relative",
		"u:pw@host:/x",
		"sftp://host:99999/x",
		"sftp://h/x?y#z",
		"s3://bucket/prefix?endpoint=http://127.0.0.1:7070&region=us-east-1&profile=p",
		"s3://AKIA:secretkey@bucket/x",
		"s3://bucket",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := target.ParseURL(raw)
		if err != nil {
			if pw := rawPassword(raw); len(pw) >= 4 && !strings.Contains(strings.Replace(raw, pw, "", 1), pw) {
				var ue *target.URLError
				if !errors.As(err, &ue) {
					t.Fatalf("error is %T, want *URLError", err)
				}
				if strings.Contains(ue.URL, pw) || strings.Contains(ue.Reason, pw) {
					t.Fatalf("ParseURL(%q) error leaks the password %q: %v", raw, pw, err)
				}
			}
			return
		}
		s := u.String()
		u2, err := target.ParseURL(s)
		if err != nil {
			t.Fatalf("ParseURL(%q) = %+v; its String %q does not parse: %v", raw, u, s, err)
		}
		if u2 != u {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v", raw, u, s, u2)
		}
		if v, err := url.Parse(s); err == nil && v.User != nil {
			if _, has := v.User.Password(); has {
				t.Fatalf("String() %q carries a password", s)
			}
		}
		if u.Scheme == target.SchemeSFTP && (u.Port < 1 || u.Port > 65535 || u.Host == "") {
			t.Fatalf("accepted %+v", u)
		}
		if !strings.HasPrefix(u.Path, "/") || filepath.Clean(u.Path) != u.Path {
			t.Fatalf("path %q not absolute and clean", u.Path)
		}
	})
}

// rawPassword is the password part of raw's user information as it is
// written (url.Parse's view of the authority), or "".
func rawPassword(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return ""
	}
	auth := raw[i+3:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	at := strings.LastIndex(auth, "@")
	if at < 0 {
		return ""
	}
	userinfo := auth[:at]
	c := strings.Index(userinfo, ":")
	if c < 0 {
		return ""
	}
	return userinfo[c+1:]
}
