package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const example = `
root = "/srv/storage/atocore"
backup_dir = "/var/backups/atocore"
metrics_file = "/var/lib/node_exporter/textfile/atocore_backup.prom"

[policy]
keep_daily = 14
keep_weekly = 0
tz = "Europe/Paris"

[[target]]
name = "offsite"
url = "sftp://backup@offsite.example/srv/atocore"
known_hosts = "/etc/atocore-backup/known_hosts"
ssh_key = "/etc/atocore-backup/id_ed25519"
recipients_file = "/etc/atocore-backup/recipients.txt"

[[target]]
name = "usb"
url = "file:///mnt/usb/atocore"
passphrase_file = "/etc/atocore-backup/usb.pass"
`

func TestParse(t *testing.T) {
	c, err := Parse("/etc/x.toml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != "/srv/storage/atocore" || c.BackupDir != "/var/backups/atocore" || c.DBPath != "" || c.Path != "/etc/x.toml" {
		t.Fatalf("paths: %+v", c)
	}
	if *c.Policy.KeepDaily != 14 || *c.Policy.KeepWeekly != 0 || c.Policy.KeepMonthly != nil || c.Policy.TZ != "Europe/Paris" {
		t.Fatalf("policy: %+v", c.Policy)
	}
	if got := strings.Join(c.TargetNames(), ","); got != "offsite,usb" {
		t.Fatalf("targets %s", got)
	}
	if tg, ok := c.Target("usb"); !ok || tg.PassphraseFile != "/etc/atocore-backup/usb.pass" {
		t.Fatalf("usb: %+v", tg)
	}
	if _, ok := c.Target("nope"); ok {
		t.Fatal("found a target that is not there")
	}
}

// A file that cannot be used is one error that names the file, and what
// is wrong, and the fix: never a half-read configuration.
func TestParseRefuses(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{`root = "/a"` + "\n" + `rooot = "/b"`, "unknown key rooot"},
		{`passphrase = "hunter2"`, "unknown key passphrase"},
		{"[[target]]\nname = \"x\"\nurl = \"file:///a\"\ntoken = \"t\"", "unknown key target.token"},
		{`root = /a`, "line 1"},
		{`root = 3`, "type"},
		{"[policy]\nkeep_daily = -1", "policy.keep_daily = -1"},
		{"[[target]]\nurl = \"file:///a\"", "has no name"},
		{"[[target]]\nname = \"a\"", "has no url"},
		{"[[target]]\nname = \"a\"\nurl = \"file:///a\"\n[[target]]\nname = \"a\"\nurl = \"file:///b\"", "two targets are named"},
		{"[[target]]\nname = \"a\"\nurl = \"sftp://u:secret@h/p\"", "holds a password"},
	} {
		_, err := Parse("/etc/c.toml", []byte(c.text))
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/etc/c.toml") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want an error with %q", c.text, err, c.want)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(filepath.Join(dir, "none.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big file: %v", err)
	}
	if _, err := Read("/dev/zero"); err == nil {
		t.Fatal("read /dev/zero as a config file")
	}
	ok := filepath.Join(dir, "ok.toml")
	if err := os.WriteFile(ok, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Read(ok); err != nil || c.Path != ok {
		t.Fatalf("Read = %+v, %v", c, err)
	}
}
