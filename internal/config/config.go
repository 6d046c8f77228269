// Package config reads atocore-backup's configuration file: TOML, at
// --config FILE, ATOCORE_BACKUP_CONFIG, or /etc/atocore-backup/config.toml
// when it exists. It names paths, the retention policy, the off-site
// targets and the files that hold keys; never a secret itself (a key that
// would hold one is an unknown key, refused).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/atocore/atocore-backup/internal/durable"
)

// DefaultPath is read when no file is named and it exists.
const DefaultPath = "/etc/atocore-backup/config.toml"

// MaxSize bounds the file: a configuration is a few KiB.
const MaxSize = 1 << 20

// File is the configuration file's content. Empty strings and nil
// pointers are "not set": the next source (the defaults) decides.
type File struct {
	// Path is where the file was read from ("" when there is none).
	Path string `toml:"-"`

	Root         string `toml:"root"`
	DBPath       string `toml:"db_path"`
	RegistryPath string `toml:"registry_path"`
	ChromaPath   string `toml:"chroma_path"`
	BackupDir    string `toml:"backup_dir"`
	MetricsFile  string `toml:"metrics_file"`

	Policy  Policy   `toml:"policy"`
	Targets []Target `toml:"target"`
}

// Policy is the retention policy of prune, create --prune and remote
// prune.
type Policy struct {
	KeepDaily   *int   `toml:"keep_daily"`
	KeepWeekly  *int   `toml:"keep_weekly"`
	KeepMonthly *int   `toml:"keep_monthly"`
	TZ          string `toml:"tz"`
}

// Target is one named off-site target and the files its commands use.
type Target struct {
	Name           string   `toml:"name"`
	URL            string   `toml:"url"`
	KnownHosts     string   `toml:"known_hosts"`
	SSHKey         string   `toml:"ssh_key"`
	SSHConfig      string   `toml:"ssh_config"`
	SSHAgent       bool     `toml:"ssh_agent"`
	Recipients     []string `toml:"recipients"`
	RecipientsFile string   `toml:"recipients_file"`
	PassphraseFile string   `toml:"passphrase_file"`
	AgeIdentity    string   `toml:"age_identity"`
	SigningKey     string   `toml:"signing_key"`
	// ObjectLockDays and ObjectLockMode lock what push writes to an
	// s3:// target (S3 Object Lock): days, and governance or compliance.
	ObjectLockDays int    `toml:"object_lock_days"`
	ObjectLockMode string `toml:"object_lock_mode"`
	AllowedSigners string `toml:"allowed_signers"`
}

// Error is a configuration file that cannot be used: unreadable, not
// TOML, an unknown key, a bad value. It names the file and the fix.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("config file %s: %s", e.Path, e.Msg) }

// Read reads and checks the file at path. A missing file is an error that
// errors.Is fs.ErrNotExist (the caller decides whether that matters).
func Read(path string) (*File, error) {
	f, _, err := durable.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, &Error{path, err.Error()}
	}
	if len(data) > MaxSize {
		return nil, &Error{path, fmt.Sprintf("larger than %d bytes: is it the right file?", MaxSize)}
	}
	return Parse(path, data)
}

// Parse decodes data, the content of the file at path.
func Parse(path string, data []byte) (*File, error) {
	var c File
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{path, fmt.Sprintf("line %d: %s; fix the TOML syntax", pe.Position.Line, oneLine(pe.Message))}
		}
		return nil, &Error{path, oneLine(err.Error()) + "; check the value's type (a string in quotes, a number without)"}
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, &Error{path, fmt.Sprintf("unknown key %s; the keys are listed in config.toml.example (secrets never go here: name the file that holds one)", strings.Join(keys, ", "))}
	}
	c.Path = path
	return &c, c.check()
}

// check refuses values no command could use.
func (c *File) check() error {
	for _, p := range []struct {
		name string
		v    *int
	}{{"policy.keep_daily", c.Policy.KeepDaily}, {"policy.keep_weekly", c.Policy.KeepWeekly}, {"policy.keep_monthly", c.Policy.KeepMonthly}} {
		if p.v != nil && *p.v < 0 {
			return &Error{c.Path, fmt.Sprintf("%s = %d; give a whole number of 0 or more", p.name, *p.v)}
		}
	}
	seen := map[string]bool{}
	for i, t := range c.Targets {
		switch {
		case t.Name == "":
			return &Error{c.Path, fmt.Sprintf("target %d has no name; give each [[target]] a name = \"...\"", i+1)}
		case seen[t.Name]:
			return &Error{c.Path, fmt.Sprintf("two targets are named %q; names must differ", t.Name)}
		case t.URL == "":
			return &Error{c.Path, fmt.Sprintf("target %q has no url; give it url = \"sftp://user@host/path\", \"s3://bucket/prefix\" or \"file:///path\"", t.Name)}
		case hasPassword(t.URL):
			return &Error{c.Path, fmt.Sprintf("target %q: the url holds a password; use ssh_key or ssh_agent (the file never holds a secret)", t.Name)}
		}
		seen[t.Name] = true
	}
	return nil
}

// Target returns the target named name.
func (c *File) Target(name string) (Target, bool) {
	if c == nil {
		return Target{}, false
	}
	for _, t := range c.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// TargetNames lists the targets' names, in the file's order.
func (c *File) TargetNames() []string {
	if c == nil {
		return nil
	}
	names := make([]string, len(c.Targets))
	for i, t := range c.Targets {
		names[i] = t.Name
	}
	return names
}

// hasPassword reports whether the URL s carries a password (user:pass@).
func hasPassword(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return false
	}
	_, has := u.User.Password()
	return has
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Exists reports whether path names something (for the default file).
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
