package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRoot builds the command tree of one invocation; flag values land in
// a.f. The paths, -v and --json belong to every command and may come
// before it.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "atocore-backup",
		Short: "Back up, validate, restore and copy off-site AtoCore's runtime state",
		Long: `atocore-backup backs up, validates and restores the runtime state of an AtoCore
deployment (its SQLite database, project registry and Chroma directory), and
copies the snapshots off-site, encrypted and signed.

Paths come from flags, else the environment, else the defaults under the
AtoCore root (--root / ATOCORE_ROOT). Results go to stdout: a summary on a
terminal, one JSON document with --json or in a pipe. Progress and logs go to
stderr.

Exit codes: 0 ok, 1 failed, 2 usage error or refusal (nothing was touched),
10 not found (root, database, backup directory, target, stamp), 11 busy
(another run holds the lock), 12 wrong key or passphrase, 130 interrupted.

Wherever a STAMP is taken, "latest" means the newest valid snapshot.`,
		Example: `  atocore-backup create --root /srv/storage/atocore --include-chroma
  atocore-backup list
  atocore-backup validate latest
  atocore-backup restore 20260407T060000Z --confirm-service-stopped`,
		RunE: func(c *cobra.Command, args []string) error {
			return errors.New("no command given; run atocore-backup --help for the list")
		},
	}
	a.f.addPathFlags(root.PersistentFlags())
	root.AddGroup(&cobra.Group{ID: "local", Title: "Snapshots on this machine:"},
		&cobra.Group{ID: "offsite", Title: "Off-site copies:"})
	for _, c := range []*cobra.Command{newCreate(a), newList(a), newValidate(a), newRestore(a), newPrune(a), newDrill(a), newDrills(a), newReplicate(a), newDemo(a)} {
		c.GroupID = "local"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newPush(a), newPull(a), newRemote(a)} {
		c.GroupID = "offsite"
		root.AddCommand(c)
	}
	root.AddCommand(newConfig(a))
	return root
}
