package cmdline

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func tree() *cobra.Command {
	root := &cobra.Command{Use: "tool", RunE: func(*cobra.Command, []string) error { return errors.New("no command") }}
	root.PersistentFlags().String("root", "", "")
	root.PersistentFlags().BoolP("verbose", "v", false, "")
	list := &cobra.Command{Use: "list", Args: Args(), RunE: func(*cobra.Command, []string) error { return Exit(ExitNotFound) }}
	show := &cobra.Command{Use: "show STAMP", Args: Args("STAMP"), RunE: func(*cobra.Command, []string) error { return nil }}
	show.Flags().Int("n", 0, "")
	root.AddCommand(list, show)
	return root
}

func TestHoist(t *testing.T) {
	root := tree()
	for _, c := range []struct{ in, want []string }{
		{[]string{"list"}, []string{"list"}},
		{[]string{"--root", "R", "list"}, []string{"list", "--root", "R"}},
		{[]string{"--root=R", "-v", "show", "S"}, []string{"show", "S", "--root=R", "-v"}},
		{[]string{"-v", "--n", "3", "show", "S"}, []string{"show", "S", "-v", "--n", "3"}},
		{[]string{"--root", "R"}, []string{"--root", "R"}},
		{[]string{"--", "list"}, []string{"--", "list"}},
	} {
		if got := Hoist(root, c.in); !slices.Equal(got, c.want) {
			t.Errorf("Hoist(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestExecuteCodesAndOneLineErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"list"}, ExitNotFound, ""},
		{[]string{"show", "S"}, ExitOK, ""},
		{[]string{"--help"}, ExitOK, ""},
		{[]string{"lst"}, ExitUsage, `tool: unknown command "lst" for "tool"; did you mean list? Run tool --help for the commands`},
		{[]string{"show"}, ExitUsage, "tool show: show needs STAMP, got 0 argument(s)"},
		{[]string{"show", "S", "--bogus"}, ExitUsage, "tool show: unknown flag: --bogus; run tool show --help for its flags"},
		{[]string{"show", "S", "--n", "x"}, ExitUsage, "tool show: invalid argument"},
		{nil, ExitUsage, "tool: no command"},
	} {
		root := tree()
		var out, errb bytes.Buffer
		Setup(root, &out, &errb)
		code := Execute(root, c.args, &errb)
		if code != c.code || !strings.HasPrefix(errb.String(), c.err) || strings.Count(errb.String(), "\n") > 1 {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", c.args, code, errb.String(), c.code, c.err)
		}
	}
}
