package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// versitygwOrSkip finds versitygw; without it the test is skipped, or
// fails when ATOCORE_REQUIRE_TOOLS=1 (CI installs it).
func versitygwOrSkip(t *testing.T) string {
	t.Helper()
	p, err := lookPath("versitygw")
	if err != nil {
		if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("versitygw is required (ATOCORE_REQUIRE_TOOLS=1): %s", versitygwInstall)
		}
		t.Skipf("versitygw not found (%s)", versitygwInstall)
	}
	return p
}

// TestS3ServerStartsCountsAndStops starts versitygw behind the counting
// proxy, makes a bucket, sends two requests (unsigned, so refused: they
// are counted all the same) and stops the server by its PID.
func TestS3ServerStartsCountsAndStops(t *testing.T) {
	bin := versitygwOrSkip(t)
	s, err := startS3Server(context.Background(), bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pid := s.pid()
	if err := s.makeBucket(bucketName("s16-r1", toolOurs)); err != nil {
		s.close()
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.targetURL("b", "p"), "s3://b/p?endpoint=http%3A%2F%2F127.0.0.1%3A") {
		t.Errorf("targetURL = %q", s.targetURL("b", "p"))
	}
	s0 := s.sample()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(m, s.endpoint()+"/"+bucketName("s16-r1", toolOurs)+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			s.close()
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("unsigned %s: status %d; want 403 from versitygw", m, resp.StatusCode)
		}
	}
	client.CloseIdleConnections()
	if err := s.settle(); err != nil {
		t.Error(err)
	}
	d := s.sample()
	if r := d.reqs.minus(s0.reqs); r != (requestCounts{Total: 2, Get: 1, Head: 1}) {
		t.Errorf("requests = %+v; want one GET and one HEAD", r)
	}
	if d.up <= s0.up || d.down <= s0.down {
		t.Errorf("bytes up %d -> %d, down %d -> %d; want growth both ways", s0.up, d.up, s0.down, d.down)
	}
	s.close()
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("versitygw (pid %d) still there after close: %v", pid, err)
	}
}
