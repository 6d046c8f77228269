package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// plainTool is what an operator would script with stock tools:
// sqlite3's online .backup for the database, cp -a for the registry and
// Chroma, sync; integrity_check and openssl digests to check; cp -a back
// to restore. It has no incremental: its incremental is another full copy.
type plainTool struct {
	e      *runEnv
	latest string // the latest copy's directory
	copies int
}

// Scripts of the three commands; $1... are passed as arguments, never
// pasted into the script.
const (
	plainBackup = `sqlite3 "$1" ".backup '$2'" && cp -a "$3" "$4" "$5/" && sync`
	plainCheck  = `r=$(sqlite3 "$1" "PRAGMA integrity_check") && [ "$r" = ok ] || { echo "integrity_check: $r" >&2; exit 1; }
find "$2" -type f -exec openssl dgst -sha256 {} + >"$3" && echo "$r"`
	// The Chroma directory is replaced, not copied over: files the
	// snapshot lacks must go, as in a real restore. The WAL sidecars of
	// the old database would corrupt the restored one.
	plainRestore = `rm -f "$2/data/db/atocore.db-wal" "$2/data/db/atocore.db-shm" &&
cp -a "$1/atocore.db" "$2/data/db/atocore.db" && cp -a "$1/project-registry.json" "$2/config/" &&
rm -rf "$2/data/chroma" && cp -a "$1/chroma" "$2/data/chroma" && sync &&
r=$(sqlite3 "$2/data/db/atocore.db" "PRAGMA integrity_check") && [ "$r" = ok ] || { echo "integrity_check: $r" >&2; exit 1; }
echo "$r"`
)

func sh(script string, args ...string) command {
	return command{argv: append([]string{"sh", "-c", script, "sh"}, args...)}
}

func (t *plainTool) step(ctx context.Context, o op) (*step, error) {
	switch o {
	case opFull, opIncr:
		return t.backup()
	case opCheck:
		if t.latest == "" {
			return nil, errors.New("no copy to check")
		}
		c := sh(plainCheck, t.latest+"/atocore.db", t.latest, t.e.path("plain-digests.txt"))
		return &step{cmd: c, dest: []string{t.latest}, verify: wantOK}, nil
	case opRestore:
		if t.latest == "" {
			return nil, errors.New("no copy to restore")
		}
		scratch := t.e.path("restore-plain")
		if err := t.e.scratchCopy(ctx, scratch); err != nil {
			return nil, err
		}
		verify := func(o outcome, m *measurement) error {
			if err := wantOK(o, m); err != nil {
				return err
			}
			return t.e.sameShapeAsRoot(scratch)
		}
		return &step{cmd: sh(plainRestore, t.latest, scratch), dest: []string{scratch}, reads: []string{t.latest}, verify: verify, cleanup: []string{scratch}}, nil
	}
	return nil, fmt.Errorf("sqlite3+cp has no %s", o)
}

// backup copies the live paths into a new directory. The previous copy is
// removed first (untimed): nothing reads it again, and keeping it would
// only cost disk.
func (t *plainTool) backup() (*step, error) {
	if t.latest != "" {
		if err := os.RemoveAll(t.latest); err != nil {
			return nil, err
		}
	}
	t.copies++
	out := t.e.path(fmt.Sprintf("plain-%d", t.copies))
	if err := freshDir(out); err != nil {
		return nil, err
	}
	t.latest = out
	r := t.e.root
	return &step{cmd: sh(plainBackup, r.db, out+"/atocore.db", r.registry, r.chroma, out), dest: []string{out}}, nil
}
