package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// maxStdout bounds how much of a command's stdout is read back for
// parsing (ours prints a JSON object; the others' stdout is not read).
const maxStdout = 4 << 20

// runner runs external commands one at a time, with a timeout, their
// output in log files, and their resource use from wait4's rusage.
type runner struct {
	logDir  string
	timeout time.Duration
	seq     int // numbers the log files in the order commands ran
}

// command is one external command.
type command struct {
	argv  []string
	env   []string // added to this process's environment, NAME=value
	unset []string // names removed from this process's environment
	dir   string   // working directory; "" for the current one
}

// environ is this process's environment without the names in unset, with
// env added.
func environ(unset, env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(unset, name) {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// String is the command as a shell would take it, for logs and results.
func (c command) String() string {
	q := make([]string, len(c.argv))
	for i, a := range c.argv {
		q[i] = shellQuote(a)
	}
	s := strings.Join(q, " ")
	if c.dir != "" {
		s = "cd " + shellQuote(c.dir) + " && " + s
	}
	return s
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`|&;<>(){}*?!#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// outcome is what running one command measured. For a shell pipeline the
// rusage covers the shell and every descendant it waited for: times and
// writes are summed, maxRSS is the largest single process.
type outcome struct {
	wall      time.Duration
	user, sys time.Duration
	maxRSSKiB int64
	ioWrite   int64 // bytes the processes caused to be written (ru_oublock × 512)
	stdout    []byte
	err       error // names the command, its exit status and its stderr's tail
}

// run runs c and waits for it. label names the log files
// (LOGDIR/NNN-label.out and .err).
func (r *runner) run(ctx context.Context, label string, c command) outcome {
	r.seq++
	base := filepath.Join(r.logDir, fmt.Sprintf("%03d-%s", r.seq, label))
	stdout, err := os.Create(base + ".out")
	if err != nil {
		return outcome{err: fmt.Errorf("log file for %s: %w", label, err)}
	}
	defer stdout.Close()
	stderr, err := os.Create(base + ".err")
	if err != nil {
		return outcome{err: fmt.Errorf("log file for %s: %w", label, err)}
	}
	defer stderr.Close()

	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Env = environ(c.unset, c.env)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so that a timeout or Ctrl-C stops the whole
	// pipeline (sh, ssh children) and not only its first process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	runErr := cmd.Run()
	o := outcome{wall: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			o.user = time.Duration(ru.Utime.Nano())
			o.sys = time.Duration(ru.Stime.Nano())
			o.maxRSSKiB = ru.Maxrss // KiB on Linux
			o.ioWrite = ru.Oublock * 512
		}
	}
	o.stdout = readHead(base+".out", maxStdout)
	if runErr != nil {
		why := runErr.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = fmt.Sprintf("timed out after %s (raise -timeout)", r.timeout)
		} else if ctx.Err() != nil {
			why = "interrupted"
		}
		o.err = fmt.Errorf("%s: %s; stderr: %s (log %s.err)", filepath.Base(c.argv[0]), why, tail(base+".err"), base)
	}
	return o
}

// readHead returns up to n bytes from the start of the file at path.
func readHead(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return b
}

// tail returns the last few lines of the file at path on one line: what
// a failure message shows of a command's stderr.
func tail(path string) string {
	const maxBytes, maxLines = 2048, 3
	f, err := os.Open(path)
	if err != nil {
		return "(no stderr)"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxBytes {
		_, _ = f.Seek(fi.Size()-maxBytes, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return tailLines(b, maxLines)
}

// tailLines joins the last n non-empty lines of b with " | ".
func tailLines(b []byte, n int) string {
	var lines []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		if s := strings.TrimSpace(string(l)); s != "" {
			lines = append(lines, s)
		}
	}
	if len(lines) == 0 {
		return "(empty)"
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
