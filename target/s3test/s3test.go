// Package s3test starts a real S3 server for tests: versitygw
// (github.com/versity/versitygw, `versitygw --port 127.0.0.1:PORT posix
// DIR`) on loopback, with a plain bucket and one made with Object Lock
// enabled, and stops the process it started when the test ends.
//
//	srv := s3test.Start(t) // skips without versitygw, fails under ATOCORE_REQUIRE_TOOLS=1
//	srv.Env(t)             // AWS_* for the SDK and the aws CLI, no real configuration
//	tgt, err := target.Open(ctx, srv.URL(srv.Bucket, "offsite"), target.Options{Create: true})
//
// Install the server with
// `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0`; it is
// looked for on PATH, then in $(go env GOPATH)/bin.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials and region of the servers started here (versitygw's root
// account).
const (
	AccessKey = "atocore-test-access"
	SecretKey = "atocore-test-secret-key-0123456789"
	Region    = "us-east-1"
)

// startTimeout bounds the wait for the server to accept connections.
const startTimeout = 20 * time.Second

// Server is a running versitygw.
type Server struct {
	Endpoint     string // "http://127.0.0.1:PORT"
	Bucket       string // a plain bucket (no versioning, no lock)
	LockedBucket string // a bucket made with Object Lock enabled (so versioned)
	Dir          string // the posix backend's directory
	client       *s3.Client
}

// Binary finds versitygw: on PATH, else in $(go env GOPATH)/bin. Without
// it the test is skipped, or fails when ATOCORE_REQUIRE_TOOLS=1 (CI).
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(string(out))
	}
	if gopath != "" {
		p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	const install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
	if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
		t.Fatalf("versitygw is required (ATOCORE_REQUIRE_TOOLS=1) but neither on PATH nor in $(go env GOPATH)/bin: %s", install)
	}
	t.Skipf("versitygw not on PATH nor in $(go env GOPATH)/bin; to run the S3 tests: %s", install)
	return ""
}

// Start starts versitygw on a free loopback port with a fresh directory,
// makes the two buckets, sets the test's AWS environment (Env) and stops
// the server, by its PID, when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	data, versions := filepath.Join(dir, "data"), filepath.Join(dir, "versions")
	for _, d := range []string{data, versions} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var srv *Server
	var why string
	for range 3 { // a port taken between freePort and the server's bind
		addr, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if why = start(t, bin, addr, data, versions); why == "" {
			srv = &Server{Endpoint: "http://" + addr, Dir: data}
			break
		}
	}
	if srv == nil {
		t.Fatal(why)
	}
	srv.Env(t)
	srv.client = s3.New(s3.Options{
		Region: Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials:                aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	srv.Bucket = srv.NewBucket(t, false)
	srv.LockedBucket = srv.NewBucket(t, true)
	return srv
}

var bucketSeq struct {
	sync.Mutex
	n int
}

// NewBucket makes a new bucket, with Object Lock enabled if lock.
func (s *Server) NewBucket(t testing.TB, lock bool) string {
	t.Helper()
	bucketSeq.Lock()
	bucketSeq.n++
	name := fmt.Sprintf("atocore-test-%d", bucketSeq.n)
	bucketSeq.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := &s3.CreateBucketInput{Bucket: &name}
	if lock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.client.CreateBucket(ctx, in); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Client is an S3 client of the server, for tests that look behind the
// target's back (the raw objects, versions, retention).
func (s *Server) Client() *s3.Client { return s.client }

// URL is the target address of prefix in bucket on this server.
func (s *Server) URL(bucket, prefix string) string {
	u := url.URL{Scheme: "s3", Host: bucket, Path: "/" + prefix, RawQuery: url.Values{"endpoint": {s.Endpoint}}.Encode()}
	return u.String()
}

// Env points the AWS SDK and CLI of this test process at the server's
// credentials and nothing else: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION, empty shared config and credentials files, no profile, no
// instance metadata, and no AWS_CA_BUNDLE (it is set on some machines and
// breaks plain-HTTP endpoints).
func (s *Server) Env(t testing.TB) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "aws-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": AccessKey, "AWS_SECRET_ACCESS_KEY": SecretKey, "AWS_REGION": Region,
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		unsetenv(t, k)
	}
}

// unsetenv removes k for the test and restores it after.
func unsetenv(t testing.TB, k string) {
	t.Helper()
	t.Setenv(k, "") // records the old value for the restore
	_ = os.Unsetenv(k)
}

// start runs versitygw on addr; "" when it accepts connections, else why
// not. The process is stopped by PID at the test's end.
func start(t testing.TB, bin, addr, data, versions string) string {
	var logs syncBuffer
	cmd := exec.Command(bin, "--quiet", "--port", addr, "posix", "--versioning-dir", versions, data)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+AccessKey, "ROOT_SECRET_ACCESS_KEY="+SecretKey)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return "start versitygw: " + err.Error()
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return "versitygw exited at start: " + strings.TrimSpace(logs.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Sprintf("versitygw did not accept connections on %s within %s: %s", addr, startTimeout, strings.TrimSpace(logs.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw log:\n%s", logs.String())
		}
	})
	return ""
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
