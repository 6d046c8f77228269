// Package buildinfo says which build of atocore-backup is running: the
// version and the VCS revision the go command stamped into the binary.
package buildinfo

import (
	"os"
	"runtime/debug"
	"strings"
)

// Version is the release of atocore-backup.
const Version = "0.1.0"

// Revision is the VCS revision the binary was built from, with "-dirty"
// when the work tree had uncommitted changes, or "" when the build carries
// none (go run, go test, a build outside a repository, -buildvcs=false).
func Revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if rev := revisionOf(bi.Settings); rev != "" {
		return rev
	}
	return moduleRevision(bi.Main.Version)
}

// moduleRevision is the commit a module version names: go install
// ...@latest stamps no VCS settings, but its pseudo-version
// (v0.0.0-20261207030000-abcdef123456) ends in the commit; a release tag
// (v1.2.3) is itself the revision. "(devel)" or "" names none.
func moduleRevision(v string) string {
	if v == "" || v == "(devel)" {
		return ""
	}
	if i := strings.LastIndexByte(v, '-'); i > 0 && len(v)-i-1 == 12 {
		return v[i+1:]
	}
	return v
}

func revisionOf(settings []debug.BuildSetting) string {
	var rev, modified string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && modified == "true" {
		rev += "-dirty"
	}
	return rev
}

// BuildSHA is what a snapshot records as build_sha: ATOCORE_BUILD_SHA when
// set (a packager's own stamp), else the VCS revision, else "unknown".
func BuildSHA() string {
	if s := os.Getenv("ATOCORE_BUILD_SHA"); s != "" {
		return s
	}
	if r := Revision(); r != "" {
		return r
	}
	return "unknown"
}

// String is the version line --version prints.
func String(program string) string {
	rev := Revision()
	if rev == "" {
		rev = "unknown (built without VCS information)"
	}
	return program + " " + Version + " (revision " + rev + ")"
}
