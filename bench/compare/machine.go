package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine describes where the measurements were taken.
type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMiB  int64  `json:"memory_mib"`
	Kernel     string `json:"kernel"`
	OS         string `json:"os"`
	GoVersion  string `json:"go_version"` // the toolchain that built ours
	GitCommit  string `json:"git_commit"`
	Filesystem string `json:"work_filesystem"`
	LoadStart  string `json:"load_average_start"`
	LoadEnd    string `json:"load_average_end"`
}

// describeMachine reads /proc and asks go and git (read-only) for the
// rest. Anything it cannot read is left "unknown".
func describeMachine(ctx context.Context, repo, work string) machine {
	m := machine{
		CPU:        procField("/proc/cpuinfo", "model name"),
		Cores:      runtime.NumCPU(),
		Kernel:     strings.TrimSpace(readString("/proc/sys/kernel/osrelease")),
		OS:         strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`),
		GoVersion:  output(ctx, repo, "go", "env", "GOVERSION"),
		GitCommit:  gitCommit(ctx, repo),
		Filesystem: filesystem(work),
		LoadStart:  loadAverage(),
	}
	if kib, err := strconv.ParseInt(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 10, 64); err == nil {
		m.MemoryMiB = kib / 1024
	}
	return m
}

// procField returns the value of the first "name: value" or "name=value"
// line of a /proc-style file.
func procField(path, name string) string {
	sc := bufio.NewScanner(strings.NewReader(readString(path)))
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			k, v, ok = strings.Cut(line, "=")
		}
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// memAvailableMiB is MemAvailable from /proc/meminfo, or -1.
func memAvailableMiB() int64 {
	f := strings.Fields(procField("/proc/meminfo", "MemAvailable"))
	if len(f) == 0 {
		return -1
	}
	kib, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return -1
	}
	return kib / 1024
}

func loadAverage() string {
	f := strings.Fields(readString("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// output runs a short read-only command and returns its trimmed first
// line of output, or "unknown".
func output(ctx context.Context, dir string, argv ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if err != nil && line == "" {
		return "unknown"
	}
	return line
}

// builtPaths are the parts of the module the measured binaries and this
// program are built from.
var builtPaths = []string{"backup", "encrypt", "examples", "internal", "restore", "target", "validate",
	"bench/gen", "bench/change", "bench/compare", "go.mod", "go.sum"}

// gitCommit is HEAD, marked when the code the binaries are built from has
// uncommitted changes.
func gitCommit(ctx context.Context, repo string) string {
	c := output(ctx, repo, "git", "rev-parse", "HEAD")
	if c == "unknown" || strings.Contains(c, " ") {
		return "unknown"
	}
	st := output(ctx, repo, append([]string{"git", "status", "--porcelain", "--"}, builtPaths...)...)
	if st != "" && st != "unknown" {
		c += "+uncommitted changes"
	}
	return c
}

// filesystem names the file system type of dir from statfs.
func filesystem(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	names := map[int64]string{
		0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
		0x794c7630: "overlayfs", 0x2FC12FC1: "zfs", 0x6969: "nfs", 0x65735546: "fuse",
	}
	if n, ok := names[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", st.Type)
}

// freeMiB is the space available to this user in dir.
func freeMiB(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize) >> 20, nil
}

// versionArgs is how each executable reports its version.
var versionArgs = map[string][]string{
	"sqlite3": {"--version"}, "rsync": {"--version"}, "restic": {"version"},
	"borg": {"--version"}, "ssh": {"-V"}, "openssl": {"version"}, "age": {"--version"},
	"rclone": {"version"}, "versitygw": {"--version"},
}

// toolVersions lists every executable looked for, with its version or
// how to install it.
func toolVersions(ctx context.Context, a *availability) []toolInfo {
	var infos []toolInfo
	for _, name := range reportedExecutables {
		ti := toolInfo{Name: name}
		if p, ok := a.found[name]; ok {
			ti.Path = p
			if args, ok := versionArgs[name]; ok {
				ti.Version = output(ctx, "", append([]string{p}, args...)...)
			} else if name == "sshd" {
				// sshd has no version flag; ssh -V names the same OpenSSH.
				ti.Version = output(ctx, "", "ssh", "-V")
			}
		} else {
			ti.Missing = installHint(name)
		}
		infos = append(infos, ti)
	}
	return infos
}

// versionNumber matches the version in a tool's version line: 3.40.1,
// 1.2.4, 9.2p1.
var versionNumber = regexp.MustCompile(`\d+\.\d+(\.\d+)?(p\d+)?`)

// shortVersion is "name version" for the report's header.
func shortVersion(name, line string) string {
	if v := versionNumber.FindString(line); v != "" {
		return name + " " + v
	}
	return name
}
