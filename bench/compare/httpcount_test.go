package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// httpServer answers every request with 200 and the size of its body,
// and returns its address.
func httpServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, strings.Repeat("x", int(n%7)))
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestRequestCounterCountsByKind(t *testing.T) {
	rc := &requestCounter{}
	p, err := startTapProxy(httpServer(t), rc.tap)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	base := "http://" + p.addr() + "/bucket/"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	do := func(method, path string, body io.Reader, header map[string]string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	do(http.MethodPut, "a", bytes.NewReader(body), nil)
	do(http.MethodPut, "b?partNumber=1&uploadId=u", bytes.NewReader(body), nil)
	do(http.MethodPut, "c", nil, map[string]string{"x-amz-copy-source": "/bucket/a"})
	// No length: sent chunked, which the counter must read through.
	do(http.MethodPost, "d?uploads", io.MultiReader(strings.NewReader("<Complete/>"), bytes.NewReader(body)), nil)
	do(http.MethodGet, "?list-type=2", nil, nil)
	do(http.MethodHead, "a", nil, nil)
	do(http.MethodHead, "b", nil, nil)
	do(http.MethodDelete, "a", nil, nil)
	do("OPTIONS", "a", nil, nil)
	client.CloseIdleConnections()
	if err := p.waitIdle(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := requestCounts{Total: 9, Put: 2, Copy: 1, Post: 1, Get: 1, Head: 2, Delete: 1, Other: 1}
	if got := rc.counts(); got != want {
		t.Errorf("counts = %+v; want %+v", got, want)
	}
	up, _ := p.counts()
	if min := int64(3*len(body) + 9*40); up < min || up > min+9*400 {
		t.Errorf("bytes client to server = %d; want the three bodies and nine requests' headers, %d to %d", up, min, min+9*400)
	}
	// minus gives what a command between two samples sent.
	before := rc.counts()
	do(http.MethodGet, "a", nil, nil)
	client.CloseIdleConnections()
	if err := p.waitIdle(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := rc.counts().minus(before); d != (requestCounts{Total: 1, Get: 1}) {
		t.Errorf("counts after one more GET, minus those before = %+v; want one GET", d)
	}
}

// TestRequestCounterTruncatedBody: a client that hangs up in the middle
// of a body leaves the stream unparsed, counted as such, and the proxy
// still settles.
func TestRequestCounterTruncatedBody(t *testing.T) {
	rc := &requestCounter{}
	p, err := startTapProxy(httpServer(t), rc.tap)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	c, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.WriteString(c, "PUT /bucket/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly a few bytes")
	if err != nil {
		t.Fatal(err)
	}
	// Hang up mid-body, then wait for the server's side to end: the proxy
	// has then taken the connection (a waitIdle before its accept would
	// find nothing open and nothing counted).
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	if err := p.waitIdle(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := rc.counts(); got != (requestCounts{Total: 1, Put: 1, Unparsed: 1}) {
		t.Errorf("counts = %+v; want one PUT and one unparsed stream", got)
	}
}
