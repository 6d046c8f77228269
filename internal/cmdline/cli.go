// Package cmdline is what the three command-line programs (atocore-backup,
// offsite-sync, admin-server) share on top of cobra: the exit codes of
// SPEC's CLI contract, one-line usage errors with the fix, help and
// --version on stdout, flags before or after the command, and the choice
// between JSON and a human summary on stdout.
package cmdline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/atocore/atocore-backup/internal/buildinfo"
)

// Exit codes of the CLI contract (SPEC, after restic 0.17's).
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2 // usage error, or a refusal that touched nothing
	ExitNotFound    = 10
	ExitBusy        = 11
	ExitWrongKey    = 12
	ExitInterrupted = 130
)

// Exit is what a command's RunE returns to end with an exit code other
// than 0, once it has said why on stderr itself.
type Exit int

func (e Exit) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Code turns the exit code a command computed into what RunE returns.
func Code(code int) error {
	if code == ExitOK {
		return nil
	}
	return Exit(code)
}

// Setup makes root behave as SPEC's CLIs do: help and --version on stdout,
// nothing printed by cobra on error (Execute prints one line), flag errors
// that name the command's help. Call it once the tree is built.
func Setup(root *cobra.Command, stdout, stderr io.Writer) {
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.Version = buildinfo.Version
	root.SetVersionTemplate(buildinfo.String(root.Name()) + "\n")
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%v; run %s --help for its flags", err, c.CommandPath())
	})
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddCommand(manCommand(root))
}

// Execute runs root on args and returns the exit code: 0, the code a
// command returned (Exit), or ExitUsage for what cobra refused (unknown
// command or flag, wrong arguments), said in one line on stderr.
func Execute(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(Hoist(root, args))
	c, err := root.ExecuteC()
	var e Exit
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &e):
		return int(e)
	}
	name := root.Name()
	if c != nil {
		name = c.CommandPath()
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, usageLine(root, err))
	return ExitUsage
}

// usageLine is cobra's error on one line, with the fix.
func usageLine(root *cobra.Command, err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command ") {
		head, sugg, _ := strings.Cut(msg, "\n")
		var names []string
		for _, l := range strings.Split(sugg, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Did you mean") {
				names = append(names, l)
			}
		}
		head = strings.TrimSpace(head) + ";"
		if len(names) > 0 {
			head += " did you mean " + strings.Join(names, " or ") + "?"
		}
		return head + " Run " + root.Name() + " --help for the commands"
	}
	return strings.Join(strings.Fields(msg), " ")
}

// Hoist moves the flags written before the command to after it, so that
// `atocore-backup --root R list` means `atocore-backup list --root R`
// (SPEC: flags may come before or after the command). It stops at "--"
// and leaves args alone when no command follows.
func Hoist(root *cobra.Command, args []string) []string {
	all := allFlags(root)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if i == 0 {
				return args
			}
			out := append([]string{}, args[i:]...)
			return append(out, args[:i]...)
		}
		if takesValue(all, a) {
			i++
		}
	}
	return args
}

// takesValue reports whether the flag token a ("--name", "-n") consumes
// the next argument as its value.
func takesValue(all *pflag.FlagSet, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	var f *pflag.Flag
	if name, ok := strings.CutPrefix(a, "--"); ok {
		f = all.Lookup(name)
	} else if len(a) == 2 {
		f = all.ShorthandLookup(a[1:])
	}
	return f != nil && f.NoOptDefVal == ""
}

// allFlags is every flag of every command under root, for Hoist.
func allFlags(root *cobra.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet("all", pflag.ContinueOnError)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) {
			if fs.Lookup(f.Name) == nil {
				fs.AddFlag(f)
			}
		}
		c.PersistentFlags().VisitAll(add)
		c.LocalNonPersistentFlags().VisitAll(add)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return fs
}

// Args checks the positional arguments of a command against the names it
// takes, with a message that names them.
func Args(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(names) == 0 {
			return fmt.Errorf("%s takes no arguments, got %q", c.Name(), strings.Join(args, " "))
		}
		return fmt.Errorf("%s needs %s, got %d argument(s)", c.Name(), strings.Join(names, " "), len(args))
	}
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
