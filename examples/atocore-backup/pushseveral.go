package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
)

// pushReport is push's JSON when it goes to several targets. (To one
// target, push prints that target's offsite.PushResult, as it always did.)
type pushReport struct {
	// Targets are the targets in the order they were pushed to.
	Targets []targetPush `json:"targets"`
	// OK is true when every push succeeded.
	OK bool `json:"ok"`
}

// targetPush is the outcome of the push to one of several targets.
type targetPush struct {
	// Name is the target's name in the config file; "" for a URL.
	Name string `json:"name"`
	// URL is the target's address without secrets.
	URL string `json:"url"`
	OK  bool   `json:"ok"`
	// Result is what the push did; null when the target could not be
	// opened, or the push was not attempted (interrupted before).
	Result *offsite.PushResult `json:"result"`
	// Error is the failure in one line; absent when OK.
	Error string `json:"error,omitempty"`
	// ExitCode is the exit code the failure would have had for a push to
	// this target alone (0 when OK).
	ExitCode int `json:"exit_code"`
}

// onePush is one target of a push to several, its settings resolved from
// its [[target]] section, the flags and the environment.
type onePush struct {
	name, url, raw string
	open           target.Options
	opts           offsite.PushOptions
}

// runPushSeveral pushes to each of names in turn. Every target's settings
// are checked before any is pushed to: a usage error in one (a missing
// recipients file, no signing key) refuses the whole push, touching
// nothing. Then a target that fails does not stop the others.
func runPushSeveral(ctx context.Context, a *app, names []string) int {
	var pushes []onePush
	seen := map[string]bool{}
	base := *a.f
	for _, n := range names {
		*a.f = base
		a.f.target, a.f.targetName = n, ""
		p, err := a.preparePush()
		if err != nil {
			*a.f = base
			lbl := n
			if p.name != "" {
				lbl = label(p.name, p.raw)
			}
			return a.fail(exitUsage, fmt.Errorf("target %s: %w", lbl, err))
		}
		if !seen[p.url] {
			seen[p.url] = true
			pushes = append(pushes, p)
		}
	}
	*a.f = base
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	rep := pushReport{Targets: make([]targetPush, 0, len(pushes)), OK: true}
	codes := make([]int, 0, len(pushes))
	for _, p := range pushes {
		tp := targetPush{Name: p.name, URL: p.url}
		if ctx.Err() != nil {
			tp.Error, tp.ExitCode = "not attempted: interrupted", exitInterrupted
		} else {
			res, code, err := a.pushOne(ctx, cfg, p)
			tp.Result = res
			a.results.RecordNamedPush(p.name, p.url, time.Now(), err == nil)
			if err != nil {
				tp.Error, tp.ExitCode = oneLine(err.Error()), exitCode(ctx, code, err)
				a.f.targetName = p.name // for the hint
				a.failAs(tp.ExitCode, fmt.Errorf("target %s: %w", label(p.name, p.url), err))
				a.f.targetName = ""
			} else {
				tp.OK = true
				if a.jsonOut() {
					a.say("pushed %d snapshot(s) to %s (%s sent); %d already there", len(res.Pushed), label(p.name, p.url), bytesText(res.BytesSent), len(res.Present))
				}
			}
		}
		rep.OK = rep.OK && tp.OK
		codes = append(codes, tp.ExitCode)
		rep.Targets = append(rep.Targets, tp)
	}
	a.printPushReport(rep)
	return cmdline.Combined(codes...)
}

// preparePush resolves the settings of the target a.f.target names and
// checks everything that needs no connection: the address, the
// encryption, the signing key, the trusted keys.
func (a *app) preparePush() (onePush, error) {
	if err := a.resolveOffsite(); err != nil {
		return onePush{}, err
	}
	p := onePush{name: a.f.targetName, raw: a.f.target}
	u, err := target.ParseURL(a.f.target)
	if err != nil {
		return p, err
	}
	p.url = u.String()
	p.open = target.Options{KnownHostsFile: a.f.knownHosts, KeyFile: a.f.sshKey, UseAgent: a.f.sshAgent, SSHConfigFile: a.f.sshConfig, Create: true}
	if p.opts.Sealing, err = a.sealing(); err != nil {
		return p, err
	}
	if p.opts.Signer, err = a.signer(); err != nil {
		return p, err
	}
	trust, err := a.trust()
	if err != nil {
		return p, err
	}
	p.opts.Trusted, p.opts.Verify = trust.Signers, a.f.verify
	if p.opts.DeltaChain, err = a.deltaChain(); err != nil {
		return p, err
	}
	if p.opts.ObjectLock, err = a.objectLock(); err != nil {
		return p, err
	}
	return p, nil
}

// pushOne opens one target and pushes to it. The code is exitUsage for a
// refusal before anything was dialled, else exitFailed (exitCode refines
// it from the error).
func (a *app) pushOne(ctx context.Context, cfg backup.Config, p onePush) (*offsite.PushResult, int, error) {
	t, err := target.Open(ctx, p.raw, p.open)
	if err != nil {
		var ce *target.SSHConfigError
		if errors.As(err, &ce) {
			return nil, exitUsage, err
		}
		return nil, exitFailed, err
	}
	defer t.Close()
	bctx, done := a.withBar(ctx, "pushing to "+label(p.name, t.URL()))
	res, err := offsite.Push(bctx, cfg, t, p.opts)
	done()
	return res, exitFailed, err
}

// printPushReport prints the report: JSON, or on a terminal a table with a
// row per target and a last line that names the failed ones.
func (a *app) printPushReport(rep pushReport) {
	rows := make([]string, 0, len(rep.Targets))
	var failed []string
	for _, tp := range rep.Targets {
		result, sent, pushed, present := "ok", "-", "-", "-"
		if !tp.OK {
			result = "FAILED"
			failed = append(failed, label(tp.Name, tp.URL))
		}
		if r := tp.Result; r != nil {
			sent, pushed, present = bytesText(r.BytesSent), fmt.Sprint(len(r.Pushed)), fmt.Sprint(len(r.Present))
		}
		name := tp.Name
		if name == "" {
			name = "-"
		}
		rows = append(rows, cells(name, tp.URL, result, sent, pushed, present, tp.Error))
	}
	last := fmt.Sprintf("pushed to all %d targets", len(rep.Targets))
	if len(failed) > 0 {
		last = fmt.Sprintf("pushed to %d of %d targets; failed: %s", len(rep.Targets)-len(failed), len(rep.Targets), strings.Join(failed, ", "))
	}
	a.resultTable(rep, cells("TARGET", "URL", "RESULT", "SENT", "PUSHED", "PRESENT", "ERROR"), rows, last)
}

// label names a target in a message: its config name and URL, or the URL.
func label(name, url string) string {
	if name == "" {
		return url
	}
	return fmt.Sprintf("%s (%s)", name, url)
}
