package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
)

// resticPassword is the throwaway repository password of every run.
const resticPassword = "atocore-compare"

// resticTool is restic with a local repository (full, incremental, check,
// restore), an sftp: repository on the loopback SSH server (push full and
// incremental) and an s3: repository on the loopback S3 server (S3 push
// full and incremental). It reads the live database file by file: not
// crash consistent on a live server, fine for timing.
type resticTool struct {
	e     *runEnv
	local bool // the local repository exists
	push  bool // the sftp repository exists
	s3    bool // the s3 repository exists
}

// repo is the local or the sftp repository, with its own cache directory,
// and the extra arguments that reach it.
type resticRepo struct {
	url   string
	cache string
	dirs  []string // what it writes on disk: repository and cache
	args  []string
	env   []string
	unset []string
}

// repo is the repository of o: local, sftp or s3.
func (t *resticTool) repo(o op) resticRepo {
	if o.s3() {
		s := t.e.s3
		bucket := bucketName(t.e.label, "restic")
		cache := t.e.path("restic-cache-s3")
		return resticRepo{
			url: "s3:" + s.endpoint() + "/" + bucket + "/restic", cache: cache,
			dirs: []string{s.bucketDir(bucket), cache}, env: s.awsEnv(), unset: s3Unset,
		}
	}
	if !o.sftp() {
		dir := t.e.path("restic-repo")
		cache := t.e.path("restic-cache")
		return resticRepo{url: dir, cache: cache, dirs: []string{dir, cache}}
	}
	n := t.e.net
	dir := t.e.path("remote-restic")
	cache := t.e.path("restic-cache-sftp")
	sftp := fmt.Sprintf("%s %s@%s -s sftp", n.sshCommand(true), n.user, n.host())
	return resticRepo{
		url:   fmt.Sprintf("sftp:%s@%s:%s", n.user, n.host(), dir),
		cache: cache, dirs: []string{dir, cache},
		args: []string{"-o", "sftp.command=" + sftp},
	}
}

func (t *resticTool) cmd(r resticRepo, args ...string) command {
	argv := append([]string{"restic", "-r", r.url}, r.args...)
	return command{
		argv:  append(argv, args...),
		env:   append([]string{"RESTIC_PASSWORD=" + resticPassword, "RESTIC_CACHE_DIR=" + r.cache}, r.env...),
		unset: r.unset,
	}
}

// made reports whether the full backup made o's repository, and notes
// that it did.
func (t *resticTool) made(o op, now bool) bool {
	p := &t.local
	switch {
	case o.sftp():
		p = &t.push
	case o.s3():
		p = &t.s3
	}
	if now {
		*p = true
	}
	return *p
}

func (t *resticTool) step(ctx context.Context, o op) (*step, error) {
	r := t.repo(o)
	backup := append([]string{"backup"}, t.e.root.sources()...)
	switch o {
	case opFull, opPushFull, opPushS3Full:
		// A fresh repository: init is untimed (a one-off in real life).
		if o.s3() {
			if err := t.e.s3.makeBucket(bucketName(t.e.label, "restic")); err != nil {
				return nil, err
			}
		}
		if err := t.e.untimed(ctx, "restic-init", t.cmd(r, "init")); err != nil {
			return nil, err
		}
		t.made(o, true)
		return &step{cmd: t.cmd(r, backup...), dest: r.dirs}, nil
	case opIncr, opPushIncr, opPushS3Incr:
		if !t.made(o, false) {
			return nil, errors.New("no repository: the full backup did not run")
		}
		st := &step{cmd: t.cmd(r, backup...), dest: r.dirs}
		if o.network() {
			st.cleanup = r.dirs // the last use: free the disk for the next tool
		}
		return st, nil
	case opCheck:
		return &step{cmd: t.cmd(r, "check", "--read-data"), dest: r.dirs}, nil
	case opRestore:
		target := t.e.path("restore-restic")
		// restic restores absolute paths under the target.
		restored := filepath.Join(target, t.e.root.dir)
		verify := func(outcome, *measurement) error { return t.e.sameShapeAsRoot(restored) }
		return &step{cmd: t.cmd(r, "restore", "latest", "--target", target), dest: []string{target}, reads: r.dirs, verify: verify, cleanup: []string{target}}, nil
	}
	return nil, fmt.Errorf("restic has no %s", o)
}
