package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// A restore run in another PID namespace than the service (two containers)
// sees no /proc entry of it, but still the SQLite lock an idle connection
// holds: it refuses, exit 2, and says the holder is not visible.
func TestRestoreRefusesAServiceInAnotherPIDNamespace(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("unshare (util-linux) is needed: %v", err)
	}
	if out, err := exec.Command(unshare, "-p", "-f", "--mount-proc", "true").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("unshare a PID namespace (CI runs as root): %v %s", err, out)
		}
		t.Skipf("cannot make a PID namespace here (needs root): %v %s", err, out)
	}
	r := testutil.Root(t)
	stamp := testutil.Create(t, r, backup.CreateOptions{}).Stamp
	script := "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute('SELECT count(*) FROM sqlite_schema').fetchone()\nprint('ready', flush=True)\nsys.stdin.read()\n"
	holder := exec.Command("python3", "-c", script, r.DBPath)
	stdin, _ := holder.StdinPipe()
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = holder.Wait() }()
	ready := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(out).ReadString('\n'); ready <- l }()
	select {
	case l := <-ready:
		if strings.TrimSpace(l) != "ready" {
			t.Fatalf("holder: %q", l)
		}
	case <-time.After(30 * time.Second):
		_ = holder.Process.Kill()
		t.Fatal("holder did not start")
	}
	before := testutil.Fingerprint(t, r.DBPath)
	cmd := exec.Command(unshare, "-p", "-f", "--mount-proc", binary(t), "restore", stamp, "--confirm-service-stopped", "--no-pre-snapshot", "--root", r.Dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	res, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 2 || !strings.Contains(string(res), "not visible here") {
		t.Fatalf("restore beside a service in another PID namespace: exit %d: %s", code, res)
	}
	if testutil.Fingerprint(t, r.DBPath) != before {
		t.Fatal("the refused restore changed the live database")
	}
}
