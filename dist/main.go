// Command dist builds the release of atocore-backup: static binaries of the
// three programs for each architecture, and a Debian package per
// architecture with the binaries, man pages, shell completions, an example
// configuration and the systemd units (dist/files).
//
//	go run ./dist                          # dist/out/, linux/amd64 and linux/arm64
//	go run ./dist -out /tmp/rel -arch amd64
//
// The binaries are built with CGO_ENABLED=0, -trimpath and -buildvcs=true,
// so that `atocore-backup --version` and the snapshots' build_sha name the
// commit they were built from; a tree that is not a git checkout is
// refused. The .deb is assembled by dpkg-deb, which must be on PATH
// (Debian's dpkg package). Installing it enables nothing: see the runbook's
// "Install" and "Scheduling" sections.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the command line, builds, and prints the paths of the
// packages on stdout, one a line. Exit codes: 0 built, 1 failed, 2 usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "the output `DIR` (default dist/out in the module)")
	arch := fs.String("arch", "amd64,arm64", "the Linux `ARCHES` to build, comma-separated")
	compress := fs.String("compress", "xz", "the .deb's `COMPRESSOR`: xz, gzip, or zstd (fast, for a local try; dpkg 1.21.18 or later)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dist: unexpected argument %q; run go run ./dist -h for the flags\n", fs.Arg(0))
		return 2
	}
	arches, err := parseArches(*arch)
	if err != nil {
		fmt.Fprintf(stderr, "dist: %v\n", err)
		return 2
	}
	switch *compress {
	case "xz", "gzip", "zstd":
	default:
		fmt.Fprintf(stderr, "dist: -compress %q: not one of xz, gzip, zstd\n", *compress)
		return 2
	}
	res, err := Build(ctx, Options{Out: *out, Arches: arches, Compress: *compress, Log: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "dist: %v\n", err)
		return 1
	}
	for _, p := range res.Debs {
		fmt.Fprintln(stdout, p)
	}
	return 0
}

// debArch maps GOARCH to Debian's architecture name, for the architectures
// a release is built for.
var debArch = map[string]string{"amd64": "amd64", "arm64": "arm64"}

func parseArches(s string) ([]string, error) {
	var arches []string
	seen := map[string]bool{}
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" || seen[a] {
			continue
		}
		if _, ok := debArch[a]; !ok {
			return nil, fmt.Errorf("-arch %q: not one of amd64, arm64", a)
		}
		seen[a] = true
		arches = append(arches, a)
	}
	if len(arches) == 0 {
		return nil, errors.New("-arch: no architecture given")
	}
	return arches, nil
}
