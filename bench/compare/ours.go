package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
)

// oursTool is atocore-backup, invoked as an operator would. Its snapshots
// live in ROOT/backups; check and restore use the latest one of the phase.
type oursTool struct {
	e     *runEnv
	stamp string // the latest snapshot this phase made
}

func (t *oursTool) cmd(args ...string) command {
	return command{argv: append([]string{t.e.ours}, append(args, "--root", t.e.root.dir)...)}
}

func (t *oursTool) step(ctx context.Context, o op) (*step, error) {
	backups := t.e.root.backups()
	switch o {
	case opFull, opIncr:
		return &step{cmd: t.cmd("create", "--include-chroma"), dest: []string{backups}, verify: t.readStamp}, nil
	case opCheck:
		if t.stamp == "" {
			return nil, errors.New("no snapshot to validate")
		}
		return &step{cmd: t.cmd("validate", t.stamp), dest: []string{backups}, verify: wantValid}, nil
	case opRestore:
		return t.restore(ctx)
	case opPushFull, opPushIncr:
		remote := t.e.path("remote-ours")
		target := fmt.Sprintf("sftp://%s@%s:%d%s", t.e.net.user, t.e.net.host(), t.e.net.port(), remote)
		c := t.cmd("push", "--target", target, "--known-hosts", t.e.net.knownHosts,
			"--ssh-key", t.e.net.keyFile, "--recipient", t.e.net.recipient)
		st := &step{cmd: c, dest: []string{remote, backups}, verify: readBytesSent}
		if o == opPushIncr {
			st.cleanup = []string{remote} // the last use: free the disk for the next tool
		}
		return st, nil
	case opPushS3Full, opPushS3Incr:
		return t.pushS3(o)
	}
	return nil, fmt.Errorf("ours has no %s", o)
}

// pushS3 pushes to a bucket of its own on the S3 server, age-encrypted
// and signed as to the SFTP server, with the credentials in the
// environment only.
func (t *oursTool) pushS3(o op) (*step, error) {
	s := t.e.s3
	bucket := bucketName(t.e.label, toolOurs)
	if o == opPushS3Full {
		if err := s.makeBucket(bucket); err != nil {
			return nil, err
		}
	}
	c := t.cmd("push", "--target", s.targetURL(bucket, "atocore"), "--recipient", s.recipient, "--signing-key", s.signingKey)
	c.env, c.unset = s.awsEnv(), s3Unset
	st := &step{cmd: c, dest: []string{s.bucketDir(bucket), t.e.root.backups()}, verify: readBytesSent}
	if o == opPushS3Incr {
		st.cleanup = []string{s.bucketDir(bucket)} // the last use: free the disk for the next tool
	}
	return st, nil
}

// restore restores the latest snapshot over a scratch copy of the live
// paths (--db-path, --registry-path and --chroma-path point into it), so
// that the root stays as the other tools back it up. ours warns that the
// paths differ from the snapshot's source; that is expected here.
func (t *oursTool) restore(ctx context.Context) (*step, error) {
	if t.stamp == "" {
		return nil, errors.New("no snapshot to restore")
	}
	scratch := t.e.path("restore-ours")
	if err := t.e.scratchCopy(ctx, scratch); err != nil {
		return nil, err
	}
	c := t.cmd("restore", t.stamp, "--confirm-service-stopped", "--no-pre-snapshot",
		"--db-path", filepath.Join(scratch, "data", "db", "atocore.db"),
		"--registry-path", filepath.Join(scratch, "config", "project-registry.json"),
		"--chroma-path", filepath.Join(scratch, "data", "chroma"))
	verify := func(o outcome, _ *measurement) error {
		var r struct {
			OK bool `json:"restored_integrity_ok"`
		}
		if err := json.Unmarshal(o.stdout, &r); err != nil || !r.OK {
			return fmt.Errorf("restore did not report restored_integrity_ok: %.200s", o.stdout)
		}
		return t.e.sameShapeAsRoot(scratch)
	}
	return &step{cmd: c, dest: []string{scratch}, reads: []string{t.e.root.backups()}, verify: verify, cleanup: []string{scratch}}, nil
}

// readStamp keeps the stamp of the snapshot create printed.
func (t *oursTool) readStamp(o outcome, _ *measurement) error {
	var meta struct {
		Stamp     string `json:"stamp"`
		Validated bool   `json:"validated"`
	}
	if err := json.Unmarshal(o.stdout, &meta); err != nil || meta.Stamp == "" || !meta.Validated {
		return fmt.Errorf("create printed no validated snapshot: %.200s", o.stdout)
	}
	t.stamp = meta.Stamp
	return nil
}

// snapshot makes a snapshot untimed: the push phase's source, for ours'
// push and rsync alike.
func (t *oursTool) snapshot(ctx context.Context, what string) error {
	return t.e.untimed(ctx, what, t.cmd("create", "--include-chroma"))
}

func wantValid(o outcome, _ *measurement) error {
	var v struct {
		Valid bool `json:"valid"`
	}
	if err := json.Unmarshal(o.stdout, &v); err != nil || !v.Valid {
		return fmt.Errorf("validate did not say valid: %.200s", o.stdout)
	}
	return nil
}

// readBytesSent records push's own count of payload bytes sent, beside
// the proxy's count of bytes on the wire.
func readBytesSent(o outcome, m *measurement) error {
	var r struct {
		BytesSent int64 `json:"bytes_sent"`
	}
	if err := json.Unmarshal(o.stdout, &r); err != nil {
		return fmt.Errorf("push printed no bytes_sent: %.200s", o.stdout)
	}
	m.ReportedSentBytes = r.BytesSent
	return nil
}
