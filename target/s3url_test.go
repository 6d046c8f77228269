package target_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/target"
)

func TestParseS3URL(t *testing.T) {
	ok := []struct {
		raw  string
		want target.URL
		str  string
	}{
		{"s3://backups/atocore", target.URL{Scheme: "s3", Bucket: "backups", Path: "/atocore"}, "s3://backups/atocore"},
		{"s3://backups", target.URL{Scheme: "s3", Bucket: "backups", Path: "/"}, "s3://backups"},
		{"s3://backups/", target.URL{Scheme: "s3", Bucket: "backups", Path: "/"}, "s3://backups"},
		{"S3://my.bucket-1/a/../b/c/?region=eu-west-3", target.URL{Scheme: "s3", Bucket: "my.bucket-1", Path: "/b/c", Region: "eu-west-3"}, "s3://my.bucket-1/b/c?region=eu-west-3"},
		{"s3://b01/p?region=us-east-1&endpoint=http://127.0.0.1:7070/&profile=offsite",
			target.URL{Scheme: "s3", Bucket: "b01", Path: "/p", Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", Profile: "offsite"},
			"s3://b01/p?endpoint=http%3A%2F%2F127.0.0.1%3A7070&profile=offsite&region=us-east-1"},
		{"s3://b01/p?endpoint=https%3A%2F%2Fs3.eu-central-003.backblazeb2.com", target.URL{Scheme: "s3", Bucket: "b01", Path: "/p", Endpoint: "https://s3.eu-central-003.backblazeb2.com"}, "s3://b01/p?endpoint=https%3A%2F%2Fs3.eu-central-003.backblazeb2.com"},
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
		if again, err := target.ParseURL(u.String()); err != nil || again != u {
			t.Errorf("ParseURL(%q) does not round-trip: %+v, %v", u.String(), again, err)
		}
	}
	bad := []struct{ raw, reason string }{
		{"s3://AKIAEXAMPLE:hunter2@backups/x", "credentials are not accepted"},
		{"s3://AKIAEXAMPLE@backups/x", "AWS environment"},
		{"s3:///x", "missing bucket"},
		{"s3://Backups/x", "invalid bucket name"},
		{"s3://ab/x", "invalid bucket name"},
		{"s3://-ab/x", "invalid bucket name"},
		{"s3://backups:9000/x", "put the server in ?endpoint="},
		{"s3://backups/x?endpoint=ftp://host", "endpoint must be"},
		{"s3://backups/x?endpoint=http://u:p@host", "credentials are not accepted"},
		{"s3://backups/x?endpoint=http://host/path", "no path or query"},
		{"s3://backups/x?region=EU%20WEST", "region must be"},
		{"s3://backups/x?region=a&region=b", "more than once"},
		{"s3://backups/x?secret=hunter2", "unknown query parameter"},
		{"s3://backups/x#frag", "fragments"},
	}
	for _, tc := range bad {
		_, err := target.ParseURL(tc.raw)
		var ue *target.URLError
		if !errors.As(err, &ue) {
			t.Errorf("ParseURL(%q) = %v, want a *URLError", tc.raw, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.reason) || !strings.Contains(msg, "s3://BUCKET[/PREFIX]") || strings.Contains(msg, "\n") {
			t.Errorf("ParseURL(%q): %q; want one line with %q and the accepted forms", tc.raw, msg, tc.reason)
		}
		if strings.Contains(msg, "hunter2") || strings.Contains(msg, "AKIAEXAMPLE") {
			t.Errorf("ParseURL(%q): the error shows a secret: %q", tc.raw, msg)
		}
	}
}
