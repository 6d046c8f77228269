package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// toolOurs is the tool under test; every ratio is against it.
const toolOurs = "ours"

// toolSpec describes one contender: what it can do and what it needs.
type toolSpec struct {
	name     string   // as in -tools, the tables and results.json
	ops      []op     // the operations it takes part in
	needs    []string // executables for its local operations
	netNeeds []string // executables for its SFTP push operations, beyond needs
}

var (
	localOps = []op{opFull, opIncr, opCheck, opRestore}
	pushOps  = []op{opPushFull, opPushIncr}
)

// toolSpecs lists the contenders in the order of the tables. ours is built
// from the module, so it needs nothing installed.
var toolSpecs = []toolSpec{
	{name: toolOurs, ops: allOps},
	{name: "sqlite3+cp", ops: localOps, needs: []string{"sqlite3", "openssl", "cp", "find", "sh", "sync"}},
	{name: "rsync", ops: pushOps, netNeeds: []string{"rsync", "ssh"}},
	{name: "restic", ops: allOps, needs: []string{"restic"}, netNeeds: []string{"ssh"}},
	{name: "borg", ops: append(slices.Clone(localOps), pushOps...), needs: []string{"borg"}, netNeeds: []string{"ssh"}},
	{name: "rclone", ops: s3Ops, needs: []string{"rclone"}},
}

// debianPackage names the package that installs each executable.
var debianPackage = map[string]string{
	"sqlite3": "sqlite3", "openssl": "openssl", "rsync": "rsync", "restic": "restic",
	"borg": "borgbackup", "sshd": "openssh-server", "ssh": "openssh-client",
	"ssh-keygen": "openssh-client", "age": "age", "go": "golang",
	"cp": "coreutils", "sync": "coreutils", "sh": "dash", "find": "findutils", "rclone": "rclone",
}

// versitygwInstall is how to get the S3 server, which Debian does not
// package.
const versitygwInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// reportedExecutables are the peer executables the start-up line lists,
// found or missing, whether or not the chosen operations need them.
var reportedExecutables = []string{"sqlite3", "rsync", "restic", "borg", "sshd", "ssh", "openssl", "age", "rclone", "versitygw"}

func specFor(name string) (toolSpec, bool) {
	i := slices.IndexFunc(toolSpecs, func(s toolSpec) bool { return s.name == name })
	if i < 0 {
		return toolSpec{}, false
	}
	return toolSpecs[i], true
}

// supports reports whether the tool takes part in o.
func (s toolSpec) supports(o op) bool { return slices.Contains(s.ops, o) }

// parseTools reads the -tools flag: a comma-separated subset of the tool
// names, or "all". ours is always included: it is the reference of every
// ratio.
func parseTools(s string) ([]string, error) {
	want := []string{toolOurs}
	if s == "" || s == "all" {
		for _, t := range toolSpecs {
			want = append(want, t.name)
		}
	} else {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if _, ok := specFor(f); !ok {
				return nil, fmt.Errorf("-tools: %q is not a tool; use a comma-separated subset of %s", f, strings.Join(toolNames(), ","))
			}
			want = append(want, f)
		}
	}
	var ordered []string
	for _, t := range toolSpecs {
		if slices.Contains(want, t.name) {
			ordered = append(ordered, t.name)
		}
	}
	return ordered, nil
}

func toolNames() []string {
	var n []string
	for _, t := range toolSpecs {
		n = append(n, t.name)
	}
	return n
}

// lookPath finds an executable; sshd is looked for in the sbin
// directories too (they are not in a normal user's PATH), versitygw in
// $GOPATH/bin and ~/go/bin (where go install puts it), and returned as an
// absolute path (sshd re-executes itself and insists on one).
func lookPath(name string) (string, error) {
	var extra []string
	switch name {
	case "sshd":
		extra = []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"}
	case "versitygw":
		if gp := os.Getenv("GOPATH"); gp != "" {
			extra = append(extra, filepath.Join(strings.Split(gp, string(os.PathListSeparator))[0], "bin", name))
		}
		if home, err := os.UserHomeDir(); err == nil {
			extra = append(extra, filepath.Join(home, "go", "bin", name))
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	for _, p := range extra {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	return filepath.Abs(p)
}

// installHint is the one-line fix for a missing executable.
func installHint(name string) string {
	if name == "versitygw" {
		return "versitygw is missing (" + versitygwInstall + ")"
	}
	if pkg, ok := debianPackage[name]; ok {
		return fmt.Sprintf("%s is missing (Debian/Ubuntu: apt-get install %s)", name, pkg)
	}
	return name + " is missing"
}

// availability is what the start-up check found.
type availability struct {
	found   map[string]string // executable -> absolute path
	missing []string          // executables not found, in reportedExecutables order first
	tools   []string          // the chosen tools that can run
	ops     []op              // the chosen operations that can run
	skipped map[string]string // chosen tools that cannot run -> why
	opsLeft string            // why operations of "all" were left out, if any
}

// checkTools looks for every executable the chosen tools and operations
// need. A peer that lacks one is skipped; a missing sshd when push
// operations are chosen is an error (the push comparison is meaningless
// without it), as is a missing go (ours cannot be built). A missing
// versitygw is an error when S3 operations were asked for by name; with
// -ops all (all) they are left out.
func checkTools(chosen []string, ops []op, all bool) (*availability, error) {
	a := &availability{found: map[string]string{}, skipped: map[string]string{}, ops: ops}
	look := func(name string) bool {
		if _, ok := a.found[name]; ok {
			return true
		}
		if slices.Contains(a.missing, name) {
			return false
		}
		p, err := lookPath(name)
		if err != nil {
			a.missing = append(a.missing, name)
			return false
		}
		a.found[name] = p
		return true
	}
	for _, name := range reportedExecutables {
		look(name)
	}
	if !look("go") {
		return a, errors.New("go is missing: it builds atocore-backup, bench/gen and bench/change (Debian/Ubuntu: apt-get install golang, or put go in PATH)")
	}
	if phasesFor(ops).s3 && !look("versitygw") {
		if !all {
			return a, fmt.Errorf("versitygw is needed for the S3 operations (%s), or leave them out of -ops", versitygwInstall)
		}
		a.ops = slices.DeleteFunc(slices.Clone(ops), op.s3)
		a.opsLeft = "left out the S3 operations: " + installHint("versitygw")
	}
	ops = a.ops
	p := phasesFor(ops)
	if p.push && !(look("sshd") && look("ssh")) {
		return a, errors.New("sshd and ssh are needed for the push operations (Debian/Ubuntu: apt-get install openssh-server openssh-client), or leave them out: -ops full,incremental,check,restore")
	}
	for _, name := range chosen {
		s, _ := specFor(name)
		needs := s.needs
		if p.push && slices.ContainsFunc(s.ops, op.sftp) {
			needs = append(slices.Clone(needs), s.netNeeds...)
		}
		if !slices.ContainsFunc(s.ops, func(o op) bool { return slices.Contains(ops, o) }) {
			a.skipped[name] = "takes part in none of the chosen operations"
			continue
		}
		var lacks []string
		for _, n := range needs {
			if !look(n) {
				lacks = append(lacks, installHint(n))
			}
		}
		if len(lacks) > 0 {
			a.skipped[name] = strings.Join(lacks, "; ")
			continue
		}
		a.tools = append(a.tools, name)
	}
	return a, nil
}

// describe is the start-up report: one line of found executables, one
// line per missing one with its package, one line per skipped tool.
func (a *availability) describe() []string {
	var found []string
	for _, n := range reportedExecutables {
		if _, ok := a.found[n]; ok {
			found = append(found, n)
		}
	}
	lines := []string{"found: " + strings.Join(found, ", ")}
	for _, n := range a.missing {
		lines = append(lines, "missing: "+installHint(n))
	}
	if len(a.missing) == 0 {
		lines = append(lines, "missing: none")
	}
	if a.opsLeft != "" {
		lines = append(lines, a.opsLeft)
	}
	for _, t := range toolNames() {
		if why, ok := a.skipped[t]; ok {
			lines = append(lines, fmt.Sprintf("skipped tool %s: %s", t, why))
		}
	}
	return lines
}
