package main

import (
	"bufio"
	"io"
	"net/http"
	"sync"
)

// requestCounts are the HTTP requests clients sent to the S3 server, by
// kind. A PUT that names x-amz-copy-source (CopyObject, UploadPartCopy) is
// a server-side copy: it is counted as Copy, not as Put.
type requestCounts struct {
	Total  int64 `json:"total"`
	Put    int64 `json:"put"`  // uploads: objects and multipart parts
	Copy   int64 `json:"copy"` // server-side copies
	Post   int64 `json:"post"` // multipart create and complete, multi-object delete
	Get    int64 `json:"get"`  // downloads and listings
	Head   int64 `json:"head"`
	Delete int64 `json:"delete"`
	Other  int64 `json:"other,omitempty"`
	// Unparsed counts connections whose client-to-server bytes stopped
	// being readable as HTTP/1.1 requests (a client that hung up in the
	// middle of a body); their later requests, if any, are not counted.
	Unparsed int64 `json:"unparsed,omitempty"`
}

// add counts one request.
func (c *requestCounts) add(r *http.Request) {
	c.Total++
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			c.Copy++
		} else {
			c.Put++
		}
	case http.MethodPost:
		c.Post++
	case http.MethodGet:
		c.Get++
	case http.MethodHead:
		c.Head++
	case http.MethodDelete:
		c.Delete++
	default:
		c.Other++
	}
}

// minus is c - o, field by field: the requests between two samples.
func (c requestCounts) minus(o requestCounts) requestCounts {
	return requestCounts{
		Total: c.Total - o.Total, Put: c.Put - o.Put, Copy: c.Copy - o.Copy, Post: c.Post - o.Post,
		Get: c.Get - o.Get, Head: c.Head - o.Head, Delete: c.Delete - o.Delete,
		Other: c.Other - o.Other, Unparsed: c.Unparsed - o.Unparsed,
	}
}

// requestCounter counts the requests of every connection through a proxy
// (see proxy.tap): it reads a copy of each connection's client-to-server
// bytes as a sequence of HTTP/1.1 requests, whatever their framing
// (Content-Length, chunked, aws-chunked inside either).
type requestCounter struct {
	mu sync.Mutex
	c  requestCounts
}

// counts returns the requests counted so far.
func (rc *requestCounter) counts() requestCounts {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.c
}

// tap returns the writer that takes one connection's client-to-server
// bytes. Close it when the connection ends: it returns once every request
// of the connection is counted.
func (rc *requestCounter) tap() io.WriteCloser {
	pr, pw := io.Pipe()
	t := &tapWriter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		rc.read(pr)
		// Whatever could not be read as requests is drained, so that the
		// proxy's writes never block.
		_, _ = io.Copy(io.Discard, pr)
	}()
	return t
}

// read counts the requests of one connection's stream until it ends.
func (rc *requestCounter) read(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		if _, err := br.Peek(1); err != nil {
			return // the connection ended between requests
		}
		req, err := http.ReadRequest(br)
		if err == nil {
			rc.mu.Lock()
			rc.c.add(req)
			rc.mu.Unlock()
			_, err = io.Copy(io.Discard, req.Body)
		}
		if err != nil {
			rc.mu.Lock()
			rc.c.Unparsed++
			rc.mu.Unlock()
			return
		}
	}
}

// tapWriter is the writing end of one connection's tap.
type tapWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func (t *tapWriter) Write(b []byte) (int, error) { return t.pw.Write(b) }

// Close ends the stream and waits for its last request to be counted.
func (t *tapWriter) Close() error {
	err := t.pw.Close()
	<-t.done
	return err
}
