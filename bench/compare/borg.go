package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// borgPassphrase is the throwaway repository passphrase of every run.
const borgPassphrase = "atocore-compare"

// borgTool is BorgBackup with a local repository (full, incremental,
// check, restore) and an ssh:// repository on the loopback server, served
// by borg serve (push full and incremental). Repositories are
// repokey-blake2 encrypted with borg's default lz4 compression.
type borgTool struct {
	e       *runEnv
	archive string // the latest archive of the local repository
	push    bool   // the ssh repository exists
}

// borgRepo is the local or the ssh repository, with its own base
// directory (keys, cache, security) so that runs do not share state.
type borgRepo struct {
	url  string
	base string
	dirs []string // what it writes on disk: repository and base directory
	rsh  string
}

func (t *borgTool) repo(network bool) borgRepo {
	if !network {
		dir, base := t.e.path("borg-repo"), t.e.path("borg-base")
		return borgRepo{url: dir, base: base, dirs: []string{dir, base}}
	}
	n := t.e.net
	dir, base := t.e.path("remote-borg"), t.e.path("borg-base-ssh")
	return borgRepo{
		url:  fmt.Sprintf("ssh://%s@%s:%d%s", n.user, n.host(), n.port(), dir),
		base: base, dirs: []string{dir, base},
		rsh: n.sshCommand(false),
	}
}

func (t *borgTool) cmd(r borgRepo, args ...string) command {
	env := []string{
		"BORG_PASSPHRASE=" + borgPassphrase, "BORG_BASE_DIR=" + r.base,
		"BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes", "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes",
	}
	if r.rsh != "" {
		env = append(env, "BORG_RSH="+r.rsh)
	}
	return command{argv: append([]string{"borg"}, args...), env: env}
}

func (t *borgTool) step(ctx context.Context, o op) (*step, error) {
	r := t.repo(o.sftp())
	create := func(name string) command {
		return t.cmd(r, append([]string{"create", r.url + "::" + name}, t.e.root.sources()...)...)
	}
	switch o {
	case opFull, opPushFull:
		if err := t.e.untimed(ctx, "borg-init", t.cmd(r, "init", "--encryption=repokey-blake2", r.url)); err != nil {
			return nil, err
		}
		if o.sftp() {
			t.push = true
		} else {
			t.archive = "full"
		}
		return &step{cmd: create("full"), dest: r.dirs}, nil
	case opIncr, opPushIncr:
		if (o.sftp() && !t.push) || (!o.sftp() && t.archive == "") {
			return nil, errors.New("no repository: the full backup did not run")
		}
		st := &step{cmd: create("incremental"), dest: r.dirs}
		if o.sftp() {
			st.cleanup = r.dirs // the last use: free the disk for the next tool
		} else {
			t.archive = "incremental"
		}
		return st, nil
	case opCheck:
		return &step{cmd: t.cmd(r, "check", "--verify-data", r.url), dest: r.dirs}, nil
	case opRestore:
		if t.archive == "" {
			return nil, errors.New("no archive to extract")
		}
		target := t.e.path("restore-borg")
		if err := freshDir(target); err != nil {
			return nil, err
		}
		// borg extracts the archived paths, without their leading slash,
		// under the current directory.
		restored := filepath.Join(target, strings.TrimPrefix(t.e.root.dir, "/"))
		c := t.cmd(r, "extract", r.url+"::"+t.archive)
		c.dir = target
		verify := func(outcome, *measurement) error { return t.e.sameShapeAsRoot(restored) }
		return &step{cmd: c, dest: []string{target}, reads: r.dirs, verify: verify, cleanup: []string{target}}, nil
	}
	return nil, fmt.Errorf("borg has no %s", o)
}
