package sshdtest

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServer starts the server bin with args in a process group of its
// own, waits (at most startTimeout) until it accepts connections on addr,
// and stops the group when the test ends, logging the server's output if
// the test failed. It returns "" on success, else why the server did not
// start (for the caller to fail or skip with).
func startServer(t testing.TB, name, bin string, args []string, addr string) string {
	t.Helper()
	var logs syncBuffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Connection processes inherit the log pipe and may outlive the listener.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return "start " + name + ": " + err.Error()
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		// The group is the server's own (Setpgid): the listener and any
		// connection it has not yet detached.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return name + " exited at start: " + strings.TrimSpace(logs.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Sprintf("%s did not accept connections on %s within %s: %s", name, addr, startTimeout, strings.TrimSpace(logs.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, logs.String())
		}
	})
	return ""
}
