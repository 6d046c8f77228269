package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/atocore/atocore-backup/internal/config"
)

// setting is one resolved value and where it came from, for config check.
type setting struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// configFile loads the configuration file once: --config, else
// ATOCORE_BACKUP_CONFIG, else config.DefaultPath when it exists. nil
// when there is none. A named file that does not exist is not found.
func (a *app) configFile() (*config.File, error) {
	if a.cfgLoaded {
		return a.cfgFile, a.cfgErr
	}
	a.cfgLoaded = true
	path, from := a.f.configPath, "--config"
	if path == "" {
		path, from = a.getenv("ATOCORE_BACKUP_CONFIG"), "the environment (ATOCORE_BACKUP_CONFIG)"
	}
	if path == "" {
		path, from = a.defaultConfig, "the default"
		if !config.Exists(path) {
			return nil, nil
		}
	}
	a.cfgFile, a.cfgErr = config.Read(path)
	if errors.Is(a.cfgErr, fs.ErrNotExist) {
		a.cfgErr = &configNotFound{path: path, from: from}
	}
	return a.cfgFile, a.cfgErr
}

// configNotFound is a configuration file that was named and is not there.
type configNotFound struct{ path, from string }

func (e *configNotFound) Error() string {
	return fmt.Sprintf("config file %s (from %s) does not exist; check the path, or drop it to use flags and the environment only", e.path, e.from)
}

// fileSource names the configuration file as a source.
func fileSource(c *config.File, key string) string {
	return fmt.Sprintf("the config file %s (%s)", c.Path, key)
}

// resolveOffsite fills the off-site flags that were not given: from their
// environment variable, else from the configuration file's target (the
// one --target or ATOCORE_BACKUP_TARGET names, or the file's only one).
// It records each value's source.
func (a *app) resolveOffsite() error {
	c, err := a.configFile()
	if err != nil {
		return err
	}
	var tgt *config.Target
	name, nameFrom := a.f.target, "--target"
	if name == "" {
		name, nameFrom = a.getenv("ATOCORE_BACKUP_TARGET"), "the environment (ATOCORE_BACKUP_TARGET)"
	}
	switch t, ok := c.Target(name); {
	case ok:
		tgt = &t
		a.f.target, a.f.targetName = t.URL, t.Name
		a.record("target", t.URL, fmt.Sprintf("%s, the target %q of %s", nameFrom, t.Name, c.Path))
	case name != "":
		a.f.target = name
		a.record("target", name, nameFrom)
	case c != nil && len(c.Targets) == 1:
		tgt = &c.Targets[0]
		a.f.target, a.f.targetName = tgt.URL, tgt.Name
		a.record("target", tgt.URL, fileSource(c, "its only target, "+tgt.Name))
	case c != nil && len(c.Targets) > 1:
		return fmt.Errorf("the config file %s names %d targets (%s); pick one with --target NAME", c.Path, len(c.Targets), strings.Join(c.TargetNames(), ", "))
	}
	var ft config.Target
	if tgt != nil {
		ft = *tgt
	}
	str := []struct {
		flag, env string
		v         *string
		file      string
	}{
		{"known-hosts", "ATOCORE_KNOWN_HOSTS", &a.f.knownHosts, ft.KnownHosts},
		{"ssh-key", "ATOCORE_SSH_KEY", &a.f.sshKey, ft.SSHKey},
		{"ssh-config", "ATOCORE_SSH_CONFIG", &a.f.sshConfig, ft.SSHConfig},
		{"recipients-file", "ATOCORE_RECIPIENTS_FILE", &a.f.recipientsFile, ft.RecipientsFile},
		{"passphrase-file", "ATOCORE_PASSPHRASE_FILE", &a.f.passphraseFile, ft.PassphraseFile},
		{"age-identity", "ATOCORE_AGE_IDENTITY", &a.f.ageIdentity, ft.AgeIdentity},
		{"signing-key", "ATOCORE_SIGNING_KEY", &a.f.signingKey, ft.SigningKey},
		{"allowed-signers", "ATOCORE_ALLOWED_SIGNERS", &a.f.allowedSigners, ft.AllowedSigners},
		{"object-lock-mode", "ATOCORE_OBJECT_LOCK_MODE", &a.f.objectLockMode, ft.ObjectLockMode},
	}
	for _, s := range str {
		if !a.takes(s.flag) {
			continue
		}
		switch {
		case a.changed(s.flag):
			a.record(s.flag, *s.v, "--"+s.flag)
		case a.getenv(s.env) != "":
			*s.v = a.getenv(s.env)
			a.record(s.flag, *s.v, "the environment ("+s.env+")")
		case s.file != "":
			*s.v = s.file
			a.record(s.flag, *s.v, fileSource(c, "target "+ft.Name))
		}
	}
	if a.takes("object-lock-days") {
		switch {
		case a.changed("object-lock-days"):
			a.record("object-lock-days", strconv.Itoa(a.f.objectLockDays), "--object-lock-days")
		case a.getenv("ATOCORE_OBJECT_LOCK_DAYS") != "":
			v, err := strconv.Atoi(a.getenv("ATOCORE_OBJECT_LOCK_DAYS"))
			if err != nil {
				return fmt.Errorf("ATOCORE_OBJECT_LOCK_DAYS=%q is not a number of days; use e.g. 30", a.getenv("ATOCORE_OBJECT_LOCK_DAYS"))
			}
			a.f.objectLockDays = v
			a.record("object-lock-days", strconv.Itoa(v), "the environment (ATOCORE_OBJECT_LOCK_DAYS)")
		case ft.ObjectLockDays != 0:
			a.f.objectLockDays = ft.ObjectLockDays
			a.record("object-lock-days", strconv.Itoa(ft.ObjectLockDays), fileSource(c, "target "+ft.Name))
		}
	}
	if a.takes("recipient") {
		switch {
		case a.changed("recipient"):
			a.record("recipient", strings.Join(a.f.recipients, ", "), "--recipient")
		case a.getenv("ATOCORE_RECIPIENTS") != "":
			a.f.recipients = splitList(a.getenv("ATOCORE_RECIPIENTS"))
			a.record("recipient", strings.Join(a.f.recipients, ", "), "the environment (ATOCORE_RECIPIENTS)")
		case len(ft.Recipients) > 0:
			a.f.recipients = ft.Recipients
			a.record("recipient", strings.Join(a.f.recipients, ", "), fileSource(c, "target "+ft.Name))
		}
	}
	bools := []struct {
		flag, env string
		v         *bool
		file      bool
	}{
		{"ssh-agent", "ATOCORE_SSH_AGENT", &a.f.sshAgent, ft.SSHAgent},
		{"verify", "ATOCORE_VERIFY", &a.f.verify, false},
		{"allow-unsigned", "ATOCORE_ALLOW_UNSIGNED", &a.f.allowUnsigned, false},
		{"allow-rollback", "ATOCORE_ALLOW_ROLLBACK", &a.f.allowRollback, false},
		{"allow-other-target", "ATOCORE_ALLOW_OTHER_TARGET", &a.f.allowOtherTarget, false},
	}
	for _, b := range bools {
		if !a.takes(b.flag) {
			continue
		}
		switch {
		case a.changed(b.flag):
			a.record(b.flag, strconv.FormatBool(*b.v), "--"+b.flag)
		case a.getenv(b.env) != "":
			v, err := strconv.ParseBool(a.getenv(b.env))
			if err != nil {
				return fmt.Errorf("%s=%q is not a boolean; use 1 or 0", b.env, a.getenv(b.env))
			}
			*b.v = v
			a.record(b.flag, strconv.FormatBool(v), "the environment ("+b.env+")")
		case b.file:
			*b.v = true
			a.record(b.flag, "true", fileSource(c, "target "+ft.Name))
		}
	}
	return nil
}

// splitList splits a list given in one environment variable: by newlines
// or commas (an SSH recipient holds spaces).
func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// takes reports whether the running command has the flag name.
func (a *app) takes(name string) bool {
	return a.cmd != nil && a.cmd.Flags().Lookup(name) != nil
}

// record notes a resolved setting for config check.
func (a *app) record(name, value, source string) {
	for i, s := range a.settings {
		if s.Name == name {
			a.settings[i] = setting{name, value, source}
			return
		}
	}
	a.settings = append(a.settings, setting{name, value, source})
}
