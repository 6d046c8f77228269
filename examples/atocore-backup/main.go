// Command atocore-backup backs up, validates and restores the runtime state
// of an AtoCore deployment: its SQLite database, project registry and Chroma
// directory. It is a thin shell over the packages backup, validate and
// restore; see SPEC.md's CLI contract and docs/runbook.md.
//
//	atocore-backup create --root /srv/storage/atocore --include-chroma
//	atocore-backup list
//	atocore-backup validate 20260407T060000Z
//	atocore-backup restore 20260407T060000Z --confirm-service-stopped
//	atocore-backup demo
//
// JSON results go to stdout; progress and one-line errors to stderr. Exit
// codes: 0 ok, 1 failed, 2 usage error or refusal (nothing was touched),
// 10 not found, 11 busy, 12 wrong key or passphrase, 130 interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // --tz works on hosts without a zoneinfo database

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/internal/config"
	"github.com/atocore/atocore-backup/internal/metrics"
)

func main() {
	cmdline.LimitMemory()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// app is one invocation: its parsed flags and where its output goes.
type app struct {
	ctx            context.Context
	stdout, stderr io.Writer
	getenv         func(string) string
	f              *flags
	// cmd is the command that runs.
	cmd *cobra.Command
	// sources says, per path (backup.WhatRoot, WhatDB, ...), where its
	// setting came from: a flag, the environment, the config file, or the
	// default under the root; set by config.
	sources map[string]string
	// settings are the resolved settings in order, for config check.
	settings []setting
	// defaultConfig is the configuration file read when none is named.
	defaultConfig string
	// The configuration file, loaded once by configFile.
	cfgLoaded bool
	cfgFile   *config.File
	cfgErr    error
	// results are this run's outcomes, for the metrics file.
	results *metrics.Results
	// warnedUnsigned: the warning of --allow-unsigned was said.
	warnedUnsigned bool
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	a := &app{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv, f: &flags{}, sources: map[string]string{}, defaultConfig: config.DefaultPath, results: &metrics.Results{}}
	root := newRoot(a)
	cmdline.Setup(root, stdout, stderr)
	root.SetContext(ctx)
	return cmdline.Execute(root, args, stderr)
}

// runs adapts a command's body to cobra: it records which command runs
// and its arguments, and turns the exit code into RunE's error.
func (a *app) runs(body func(ctx context.Context, a *app) int) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		a.cmd = c
		a.f.command = strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
		a.f.args = args
		if a.takes("target") && c.Annotations[annotSeveralTargets] == "" {
			if err := a.resolveOffsite(); err != nil {
				return cmdline.Code(a.fail(exitUsage, err))
			}
		}
		code := body(c.Context(), a)
		code = a.savePushes(code)
		if a.cmd.Name() != "config" && a.cmd.Name() != "check" && a.cmd.Name() != "demo" {
			code = a.writeMetrics(c.Context(), code)
		}
		return cmdline.Code(code)
	}
}

// changed reports whether the flag name was given on the command line.
func (a *app) changed(name string) bool {
	return a.cmd != nil && a.cmd.Flags().Changed(name)
}

// fail prints a one-line error, with the CLI's hint, and returns the exit
// code for it: code, or for exitFailed the code the error's type calls for.
func (a *app) fail(code int, err error) int {
	var nf *configNotFound
	if errors.As(err, &nf) {
		return a.failAs(exitNotFound, err)
	}
	return a.failAs(exitCode(a.ctx, code, err), err)
}

// failAs is fail with exactly the exit code given.
func (a *app) failAs(code int, err error) int {
	msg := oneLine(err.Error())
	if h := a.hint(err); h != "" {
		msg += "; " + h
	}
	if !strings.HasPrefix(msg, a.f.command+": ") && !strings.HasPrefix(msg, a.f.command+" ") {
		msg = a.f.command + ": " + msg
	}
	fmt.Fprintf(a.stderr, "atocore-backup %s\n", msg)
	return code
}

// say prints a line of human-readable progress to stderr.
func (a *app) say(format string, args ...any) {
	fmt.Fprintf(a.stderr, format+"\n", args...)
}

func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
