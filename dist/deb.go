package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// files holds the package's own files: systemd units, the /etc/default
// environment files and the example configuration.
//
//go:embed files
var files embed.FS

// unitDir is where Debian (bookworm) packages put system units.
const unitDir = "/lib/systemd/system"

// units are the systemd units shipped. None is enabled on install.
var units = []string{"atocore-backup.service", "atocore-backup.timer", "atocore-offsite.service", "atocore-replicate.service"}

// docs are the repository's documents an operator needs offline.
var docs = []string{"README.md", "docs/runbook.md", "docs/retention.md", "docs/offsite.md", "docs/monitoring.md", "docs/replication.md"}

// file is one file of the package.
type file struct {
	path     string // absolute, in the installed system
	data     []byte
	mode     os.FileMode
	conffile bool // under /etc: the operator's edits survive upgrades
}

// packageFiles lists every file of the .deb for the binaries in bindir.
func packageFiles(root, bindir string, gen *generated) ([]file, error) {
	var fl []file
	for _, p := range programs {
		b, err := os.ReadFile(filepath.Join(bindir, p.name))
		if err != nil {
			return nil, err
		}
		fl = append(fl, file{path: "/usr/bin/" + p.name, data: b, mode: 0o755})
	}
	for name, roff := range gen.man {
		gz, err := gzipped(roff)
		if err != nil {
			return nil, err
		}
		fl = append(fl, file{path: "/usr/share/man/man1/" + name + ".gz", data: gz, mode: 0o644})
	}
	for prog, bySh := range gen.completions {
		for _, s := range shells {
			fl = append(fl, file{path: fmt.Sprintf(s.path, prog), data: bySh[s.shell], mode: 0o644})
		}
	}
	embedded := []struct {
		src, dst string
		conffile bool
	}{
		{"files/config.toml.example", "/etc/atocore-backup/config.toml.example", true},
		{"files/default/atocore-backup", "/etc/default/atocore-backup", true},
		{"files/default/atocore-offsite", "/etc/default/atocore-offsite", true},
	}
	for _, u := range units {
		embedded = append(embedded, struct {
			src, dst string
			conffile bool
		}{"files/systemd/" + u, unitDir + "/" + u, false})
	}
	for _, e := range embedded {
		b, err := files.ReadFile(e.src)
		if err != nil {
			return nil, err
		}
		fl = append(fl, file{path: e.dst, data: b, mode: 0o644, conffile: e.conffile})
	}
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join(root, d))
		if err != nil {
			return nil, err
		}
		fl = append(fl, file{path: "/usr/share/doc/atocore-backup/" + path.Base(d), data: b, mode: 0o644})
	}
	sort.Slice(fl, func(i, j int) bool { return fl[i].path < fl[j].path })
	return fl, nil
}

// gzipped compresses a man page as gzip -9n would: no name, no time, so
// the same page gives the same bytes.
func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// control is the package's DEBIAN/control without Installed-Size.
func control(version, arch string) string {
	return `Package: atocore-backup
Version: ` + version + `
Architecture: ` + arch + `
Maintainer: AtoCore backup maintainers <atocore-backup@atocore.invalid>
Section: admin
Priority: optional
Suggests: age, jq
Homepage: https://github.com/atocore/atocore-backup
Description: validated backups, restores and off-site copies of AtoCore
 atocore-backup takes self-checking snapshots of an AtoCore deployment's
 SQLite database (online), project registry and Chroma directory, validates
 and restores them, applies a retention policy, and copies them off-site
 over SFTP, encrypted with age and signed (offsite-sync). Static binaries:
 atocore-backup, offsite-sync, atocore-admin-server.
 .
 The systemd timer and the off-site service are installed but not enabled:
 set the paths in /etc/default/atocore-backup, then
 systemctl enable --now atocore-backup.timer.
`
}

// Maintainer scripts. They make systemd read the units and never enable or
// start one: the operator sets the paths first.
const (
	postinst = `#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
`
	prerm = `#!/bin/sh
set -e
# A removed package must not leave its timer firing at a missing service,
# nor replication running from a binary about to go.
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop atocore-backup.timer >/dev/null 2>&1 || true
	systemctl stop atocore-replicate.service >/dev/null 2>&1 || true
fi
`
	postrm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
`
)

// buildDeb lays the files out in a staging tree and has dpkg-deb build
// the package from it, owned by root, every mtime the commit's.
func buildDeb(ctx context.Context, deb, ctrl string, fl []file, mtime time.Time, compress string) error {
	stage, err := os.MkdirTemp("", "atocore-dist-deb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	var md5sums, conffiles strings.Builder
	var kib int64
	for _, f := range fl {
		dst := filepath.Join(stage, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(dst, f.mode); err != nil { // past the umask
			return err
		}
		kib += (int64(len(f.data)) + 1023) / 1024
		fmt.Fprintf(&md5sums, "%x  %s\n", md5.Sum(f.data), strings.TrimPrefix(f.path, "/"))
		if f.conffile {
			fmt.Fprintln(&conffiles, f.path)
		}
	}
	ctrl += "Installed-Size: " + strconv.FormatInt(kib, 10) + "\n"
	meta := []struct {
		name, body string
		mode       os.FileMode
	}{
		{"control", ctrl, 0o644}, {"md5sums", md5sums.String(), 0o644}, {"conffiles", conffiles.String(), 0o644},
		{"postinst", postinst, 0o755}, {"prerm", prerm, 0o755}, {"postrm", postrm, 0o755},
	}
	if err := os.Mkdir(filepath.Join(stage, "DEBIAN"), 0o755); err != nil {
		return err
	}
	for _, m := range meta {
		p := filepath.Join(stage, "DEBIAN", m.name)
		if err := os.WriteFile(p, []byte(m.body), m.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, m.mode); err != nil {
			return err
		}
	}
	// Directories too: the staging tree's are fresh and would carry the
	// build's time and the umask's modes.
	err = filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if err := os.Chmod(p, 0o755); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// mtimes last: chmod does not change them, but writing into a
	// directory does.
	err = filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--root-owner-group", "-Z"+compress, "--build", stage, deb)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(mtime.Unix(), 10))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dpkg-deb --build %s: %v: %s", deb, err, strings.TrimSpace(out.String()))
	}
	return nil
}
