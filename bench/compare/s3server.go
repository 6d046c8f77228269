package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
)

// Credentials and region of the loopback S3 server: versitygw's root
// account, throwaway like the server.
const (
	s3AccessKey = "atocore-compare-access"
	s3SecretKey = "atocore-compare-secret-0123456789"
	s3Region    = "us-east-1"
)

// s3StartTimeout bounds the wait for versitygw to accept connections.
const s3StartTimeout = 20 * time.Second

// s3Unset are the environment variables no S3 client or server started
// here may see: AWS_CA_BUNDLE is set on the project's machines and breaks
// plain-HTTP endpoints; the others would point a client at another
// account or endpoint.
var s3Unset = []string{"AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "RCLONE_CONFIG"}

// s3Server is the loopback S3 server of the S3 operations: versitygw's
// posix backend on a free 127.0.0.1 port, in its own directory, behind a
// proxy that counts bytes and HTTP requests. Clients only ever see the
// proxy's port.
type s3Server struct {
	data       string // the posix backend's directory: one subdirectory per bucket
	log        string
	signingKey string // OpenSSH Ed25519 key ours signs its statements with
	recipient  string // age recipient of ours' push; the identity is beside it
	awsEmpty   string // empty AWS config and credentials file
	rcloneConf string // empty rclone config file (rclone is configured by env)

	cmd    *exec.Cmd
	exited chan struct{}
	proxy  *proxy
	reqs   *requestCounter
}

// startS3Server writes the keys under dir, starts versitygw (retrying on
// a port taken between the probe and its bind) and the counting proxy in
// front of it.
func startS3Server(ctx context.Context, bin, dir string) (*s3Server, error) {
	s := &s3Server{data: filepath.Join(dir, "data"), log: filepath.Join(dir, "versitygw.log")}
	if err := os.MkdirAll(s.data, 0o700); err != nil {
		return nil, err
	}
	if err := s.writeKeys(dir); err != nil {
		return nil, err
	}
	var addr string
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		addr = fmt.Sprintf("127.0.0.1:%d", port)
		if err = s.start(ctx, bin, addr); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	s.reqs = &requestCounter{}
	if s.proxy, err = startTapProxy(addr, s.reqs.tap); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// writeKeys writes ours' signing key, an age identity and the empty
// configuration files under dir.
func (s *s3Server) writeKeys(dir string) error {
	signPEM, _, err := newSSHKey()
	if err != nil {
		return err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	s.recipient = id.Recipient().String()
	s.signingKey = filepath.Join(dir, "signing_ed25519")
	s.awsEmpty = filepath.Join(dir, "aws-empty")
	s.rcloneConf = filepath.Join(dir, "rclone-empty.conf")
	for path, b := range map[string][]byte{
		s.signingKey: signPEM, filepath.Join(dir, "age-identity.txt"): []byte(id.String() + "\n"),
		s.awsEmpty: nil, s.rcloneConf: nil,
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// start runs versitygw on addr and waits (bounded) until it accepts
// connections. --keep-alive: S3 services keep connections open, and
// without it versitygw closes each after one request.
func (s *s3Server) start(ctx context.Context, bin, addr string) error {
	logf, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "--quiet", "--keep-alive", "--port", addr, "posix", s.data)
	s.cmd.Env = environ(s3Unset, []string{"ROOT_ACCESS_KEY_ID=" + s3AccessKey, "ROOT_SECRET_ACCESS_KEY=" + s3SecretKey})
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(s3StartTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil { // bounded: 20 s of 50 ms tries
		select {
		case <-s.exited:
			return fmt.Errorf("versitygw exited at start: %s", tail(s.log))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("versitygw did not accept connections on %s within %s: %s", addr, s3StartTimeout, tail(s.log))
}

// stop ends versitygw by its PID: SIGTERM, SIGKILL after 5 s.
func (s *s3Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// close stops the proxy and the server.
func (s *s3Server) close() {
	if s.proxy != nil {
		s.proxy.close()
	}
	s.stop()
}

func (s *s3Server) pid() int { return s.cmd.Process.Pid }

// endpoint is the URL clients use: the proxy's.
func (s *s3Server) endpoint() string { return "http://" + s.proxy.addr() }

// bucketDir is where the posix backend keeps a bucket's objects.
func (s *s3Server) bucketDir(bucket string) string { return filepath.Join(s.data, bucket) }

// makeBucket makes an empty bucket. versitygw's posix backend treats
// every directory of its top level as a bucket (versitygw posix --help),
// so a fresh directory is a fresh bucket, made without a request that
// would be counted.
func (s *s3Server) makeBucket(bucket string) error {
	return freshDir(s.bucketDir(bucket))
}

// bucketName makes an S3 bucket name (3-63 lowercase letters, digits and
// hyphens) of a run's label and a tool.
func bucketName(label, tool string) string {
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, "bench-"+label+"-"+tool)
	if len(n) > 63 {
		n = n[:63]
	}
	return strings.Trim(n, "-")
}

// targetURL is ours' s3:// target for prefix in bucket.
func (s *s3Server) targetURL(bucket, prefix string) string {
	q := url.Values{"endpoint": {s.endpoint()}, "region": {s3Region}}
	return "s3://" + bucket + "/" + prefix + "?" + q.Encode()
}

// awsEnv is the environment of an S3 client (ours, restic): the server's
// credentials and region and nothing of the user's configuration.
func (s *s3Server) awsEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s3AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3SecretKey,
		"AWS_REGION=" + s3Region, "AWS_DEFAULT_REGION=" + s3Region,
		"AWS_CONFIG_FILE=" + s.awsEmpty, "AWS_SHARED_CREDENTIALS_FILE=" + s.awsEmpty,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// rcloneRemote is the name of the rclone remote that rcloneEnv defines.
const rcloneRemote = "s3bench"

// rcloneEnv configures rclone's S3 backend for the server through the
// environment, with an empty config file.
func (s *s3Server) rcloneEnv() []string {
	p := "RCLONE_CONFIG_" + strings.ToUpper(rcloneRemote) + "_"
	return []string{
		"RCLONE_CONFIG=" + s.rcloneConf,
		p + "TYPE=s3", p + "PROVIDER=Other", p + "ENDPOINT=" + s.endpoint(),
		p + "ACCESS_KEY_ID=" + s3AccessKey, p + "SECRET_ACCESS_KEY=" + s3SecretKey, p + "REGION=" + s3Region,
	}
}

// settle waits until the proxy has no open connection, so that bytes and
// requests are complete.
func (s *s3Server) settle() error { return s.proxy.waitIdle(10 * time.Second) }

// sample is what the server has seen so far.
func (s *s3Server) sample() serverSample {
	up, down := s.proxy.counts()
	cpu, _ := processCPU(s.pid())
	return serverSample{up: up, down: down, cpu: cpu, reqs: s.reqs.counts()}
}

// processCPU is the user+system CPU time of one process itself (utime and
// stime, fields 14 and 15 of /proc/PID/stat).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatTimes(b, 11, 12)
}

// parseStatTimes adds two clock-tick fields of a /proc/PID/stat line,
// counted (from 0) among the fields after the parenthesised command name,
// which may hold spaces: 11 and 12 are utime and stime, 13 and 14 cutime
// and cstime.
func parseStatTimes(b []byte, i, j int) (time.Duration, error) {
	k := bytes.LastIndexByte(b, ')')
	if k < 0 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	f := strings.Fields(string(b[k+1:]))
	if len(f) <= max(i, j) {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	a, err1 := strconv.ParseInt(f[i], 10, 64)
	c, err2 := strconv.ParseInt(f[j], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	return time.Duration(a+c) * time.Second / clockTicks, nil
}
