package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

// proc is a process this bench started. It is only ever signalled by its
// own PID, and waited for once.
type proc struct {
	name  string
	cmd   *exec.Cmd
	start time.Time
	end   time.Time // when Wait returned, once done is closed
	done  chan struct{}
	err   error // Wait's, once done is closed
	log   string
	once  sync.Once
}

// startProc starts cmd with its stdout and stderr going to logPath (or to
// stdout, a buffer the caller set, when logPath is "").
func startProc(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the child has its own descriptor
		if cmd.Stdout == nil {
			cmd.Stdout = f
		}
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, start: time.Now(), done: make(chan struct{}), log: logPath}
	go func() { p.err = cmd.Wait(); p.end = time.Now(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process (by its PID) and waits for it.
func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// stop asks the process to end (SIGTERM) and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// wait waits at most d for the process to exit on its own, then kills it.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.kill()
		return fmt.Errorf("%s did not exit within %s", p.name, d)
	}
}

// logTailBytes is the last n bytes of the process's log.
func (p *proc) logTailBytes(n int64) string {
	if p.log == "" {
		return ""
	}
	b, _ := os.ReadFile(p.log)
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// logTail is the end of the process's log, for error messages.
func (p *proc) logTail() string {
	if p.log == "" {
		return ""
	}
	b, _ := os.ReadFile(p.log)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}

// cpuTime is the CPU the process (and any child it waited for) has used,
// from /proc/PID/stat: utime+stime+cutime+cstime.
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc/PID/stat")
	}
	fs := strings.Fields(s[i+1:]) // fs[0] is field 3 (state)
	if len(fs) < 15 {
		return 0, errors.New("short /proc/PID/stat")
	}
	var ticks int64
	for _, f := range fs[11:15] { // fields 14-17: utime stime cutime cstime
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// walSampler records the largest size of a -wal file, sampled every
// `every`, until stopped.
type walSampler struct {
	peak    int64
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func sampleWAL(path string, every time.Duration) *walSampler {
	w := &walSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if fi, err := os.Stat(path); err == nil {
				w.peak = max(w.peak, fi.Size())
			}
			w.samples++
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// end stops the sampler and returns the peak size in bytes.
func (w *walSampler) end() int64 {
	close(w.stop)
	<-w.done
	return w.peak
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// runBounded runs cmd to completion within d and returns its combined
// output.
func runBounded(ctx context.Context, d time.Duration, name string, args []string, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
