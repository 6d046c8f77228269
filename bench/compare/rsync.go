package main

import (
	"context"
	"fmt"
	"os"
)

// rsyncTool copies ours' snapshot directory to the loopback server with
// rsync -aH over ssh, unencrypted at rest (ours' push is age-encrypted).
// The incremental copies the directory again once it holds the second
// snapshot: -H recreates the unchanged Chroma files as hardlinks instead
// of sending them, which is what makes the comparison fair.
type rsyncTool struct {
	e      *runEnv
	remote string
}

func (t *rsyncTool) step(_ context.Context, o op) (*step, error) {
	if o != opPushFull && o != opPushIncr {
		return nil, fmt.Errorf("rsync has no %s", o)
	}
	if t.remote == "" {
		t.remote = t.e.path("remote-rsync")
		if err := os.MkdirAll(t.remote, 0o700); err != nil {
			return nil, err
		}
	}
	n := t.e.net
	c := command{argv: []string{"rsync", "-aH", "-e", n.sshCommand(true),
		t.e.root.backups() + "/snapshots", fmt.Sprintf("%s@%s:%s/", n.user, n.host(), t.remote)}}
	st := &step{cmd: c, dest: []string{t.remote}, reads: []string{t.e.root.backups()}}
	if o == opPushIncr {
		st.cleanup = []string{t.remote} // the last use: free the disk for the next tool
	}
	return st, nil
}
