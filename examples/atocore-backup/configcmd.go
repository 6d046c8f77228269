package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/internal/cmdline"
)

func newConfig(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "config check",
		Short: "Print the resolved settings and where each came from",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown config subcommand %q: use config check", args[0])
			}
			return nil
		},
		RunE: a.runs(func(ctx context.Context, a *app) int {
			return a.fail(exitUsage, fmt.Errorf("config needs a subcommand: check"))
		}),
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Read the config file, resolve every setting (flag, else environment, else file, else default) and print it with its source",
		Long: `config check reads the configuration file (--config FILE, ATOCORE_BACKUP_CONFIG,
or /etc/atocore-backup/config.toml when it exists), refuses unknown keys and bad
values, and prints every setting a command would use, with where it came from:
a flag, the environment, the file, or the default. With --target NAME it
resolves that target's settings too. It reads only; exit 0 when the file is
usable, 2 when it is not, 10 when a named file does not exist.`,
		Args: cmdline.Args(),
		RunE: a.runs(runConfigCheck),
	}
	a.f.addTargetFlags(check.Flags())
	a.f.addOpeningFlags(check.Flags())
	check.Flags().StringVar(&a.f.signingKey, "signing-key", "", "the signing key `FILE` (env ATOCORE_SIGNING_KEY)")
	check.Flags().StringVar(&a.f.allowedSigners, "allowed-signers", "", "the allowed_signers `FILE` (env ATOCORE_ALLOWED_SIGNERS)")
	check.Flags().StringArrayVar(&a.f.recipients, "recipient", nil, "an age `RECIPIENT`")
	check.Flags().StringVar(&a.f.recipientsFile, "recipients-file", "", "a `FILE` of age recipients (env ATOCORE_RECIPIENTS_FILE)")
	a.f.addPolicyFlags(check.Flags())
	c.AddCommand(check)
	return c
}

// configReport is config check's JSON.
type configReport struct {
	ConfigFile *string   `json:"config_file"`
	Targets    []string  `json:"targets"`
	Settings   []setting `json:"settings"`
}

func runConfigCheck(ctx context.Context, a *app) int {
	file, err := a.configFile()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	cfg, err := a.config()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	for _, p := range []struct{ key, v string }{{"db_path", cfg.DBPath}, {"registry_path", cfg.RegistryPath}, {"chroma_path", cfg.ChromaPath}, {"backup_dir", cfg.BackupDir}} {
		for i, s := range a.settings {
			if s.Name == p.key && s.Value == "" {
				a.settings[i].Value = p.v // derived from the root
			}
		}
	}
	if _, err := a.policy(); err != nil {
		return a.fail(exitUsage, err)
	}
	rep := configReport{Targets: file.TargetNames(), Settings: a.settings}
	if file != nil {
		rep.ConfigFile = &file.Path
	}
	if rep.Targets == nil {
		rep.Targets = []string{}
	}
	rows := make([]string, 0, len(a.settings))
	for _, s := range a.settings {
		v := s.Value
		if v == "" {
			v = "-"
		}
		rows = append(rows, cells(s.Name, v, s.Source))
	}
	last := "no config file"
	if file != nil {
		last = "config file " + file.Path + " is usable"
		if len(rep.Targets) > 0 {
			last += "; targets: " + strings.Join(rep.Targets, ", ")
		}
	}
	a.resultTable(rep, cells("SETTING", "VALUE", "SOURCE"), rows, last)
	return exitOK
}
