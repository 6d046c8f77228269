package main

import (
	"encoding/json"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// needs lists, per command, the paths it cannot do without, and which of
// them must already exist. A command whose path does not exist fails with
// exit 10 and creates nothing: create makes the backup directory only when
// the live database exists; restore and pull may fill an empty machine.
var needs = map[string]struct{ set, exist []string }{
	"create":   {[]string{backup.NeedDB, backup.NeedBackup}, []string{backup.NeedDB}},
	"restore":  {[]string{backup.NeedDB, backup.NeedBackup}, nil},
	"drill":    {[]string{backup.NeedDB, backup.NeedBackup}, []string{backup.NeedDB}},
	"list":     {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"validate": {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"prune":    {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"drills":   {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"push":     {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"pull":     {[]string{backup.NeedBackup}, nil},
}

// setup builds the configuration; a problem with it is a usage error, a
// path that does not exist is "not found". (cobra checked the arguments.)
func (a *app) setup() (backup.Config, int, bool) {
	cfg, err := a.config()
	if err == nil {
		err = cfg.Require(needs[a.f.command].set...)
	}
	if err != nil {
		return backup.Config{}, a.fail(exitUsage, err), false
	}
	if exist := needs[a.f.command].exist; exist != nil {
		if err := cfg.RequireExisting(exist...); err != nil {
			return backup.Config{}, a.fail(exitFailed, err), false
		}
	}
	return cfg, 0, true
}

// stampArg returns the STAMP argument, refusing a malformed one.
func (a *app) stampArg() (string, int, bool) {
	s := a.f.args[0]
	if _, err := snapshot.ParseStamp(s); err != nil {
		return "", a.fail(exitUsage, err), false
	}
	return s, 0, true
}
