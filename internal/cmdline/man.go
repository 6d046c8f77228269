package cmdline

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/atocore/atocore-backup/internal/buildinfo"
)

// manCommand generates the man pages of root's commands from the same
// definitions as --help (packaging runs it; hidden from the command list).
func manCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages of every command into DIR",
		Hidden: true,
		Args:   Args("DIR"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				fmt.Fprintf(c.ErrOrStderr(), "%s man: %v; give a directory that can be created\n", root.Name(), err)
				return Exit(ExitFailed)
			}
			h := &doc.GenManHeader{Title: root.Name(), Section: "1", Source: "atocore-backup " + buildinfo.Version, Manual: "atocore-backup"}
			root.DisableAutoGenTag = true
			if err := doc.GenManTree(root, h, args[0]); err != nil {
				fmt.Fprintf(c.ErrOrStderr(), "%s man: %v\n", root.Name(), err)
				return Exit(ExitFailed)
			}
			return nil
		},
	}
}
