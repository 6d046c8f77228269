package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
)

// rcloneTool copies ours' latest snapshot directory, plaintext, to a
// bucket of its own on the S3 server with rclone copy (rclone's S3
// backend, configured through the environment). Its incremental copies
// the second snapshot's directory: plain rclone copy has no dedupe across
// directories, so it uploads every file again, as an operator's
// `rclone copy SNAPSHOT remote:bucket/SNAPSHOT` would.
type rcloneTool struct {
	e *runEnv
}

func (t *rcloneTool) step(_ context.Context, o op) (*step, error) {
	if !o.s3() {
		return nil, fmt.Errorf("rclone has no %s", o)
	}
	s := t.e.s3
	bucket := bucketName(t.e.label, "rclone")
	if o == opPushS3Full {
		if err := s.makeBucket(bucket); err != nil {
			return nil, err
		}
	}
	snaps, err := latestSnapshots(t.e.root.backups())
	if err != nil || len(snaps) == 0 {
		return nil, errors.New("no snapshot of ours to copy")
	}
	latest := snaps[len(snaps)-1]
	c := command{
		argv:  []string{"rclone", "copy", latest, rcloneRemote + ":" + bucket + "/rclone/" + filepath.Base(latest)},
		env:   s.rcloneEnv(),
		unset: s3Unset,
	}
	st := &step{cmd: c, dest: []string{s.bucketDir(bucket)}, reads: []string{latest}}
	if o == opPushS3Incr {
		st.cleanup = []string{s.bucketDir(bucket)} // the last use: free the disk for the next tool
	}
	return st, nil
}
