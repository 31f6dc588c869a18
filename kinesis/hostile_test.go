package kinesis

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/internal/budget"
	"github.com/sluicedb/sluice/internal/memstat"
)

// rawHead writes the head of a signed API request with the given declared
// body length, and what of the body there is.
func rawHead(t *testing.T, addr, op string, contentLength int, body string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(nc, "POST / HTTP/1.1\r\nHost: kinesis\r\nContent-Type: %s\r\nX-Amz-Target: %s%s\r\n"+
		"Authorization: %s\r\nX-Amz-Date: 20240101T000000Z\r\nContent-Length: %d\r\n\r\n%s",
		ContentTypeJSON, TargetPrefix, op, testAuthorization, contentLength, body)
	return nc
}

// TestHandler_DeclaredBodySizeCostsNoMemory: 40 connections that declare a
// 16 MB body and send one byte must cost memory for the bytes that arrived,
// not the 640 MB they declared.
func TestHandler_DeclaredBodySizeCostsNoMemory(t *testing.T) {
	const conns = 40
	arrived := make(chan struct{}, conns)
	env := newTestEnv(t, func(c *envConfig) {
		unverified(c)
		c.opts.Budget = budget.New(4 << 30)
		c.hooks = func(h *Handler) {
			h.testHookBodyRead = func(got int) {
				if got == 1 {
					arrived <- struct{}{}
				}
			}
		}
	})
	before := memstat.LiveHeap()
	addr := env.srv.Listener.Addr().String()
	for range conns {
		rawHead(t, addr, "PutRecords", 16_000_000, "[")
	}
	for range conns {
		<-arrived
	}
	if grew := int64(memstat.LiveHeap()) - int64(before); grew > 32<<20 {
		t.Fatalf("the heap grew by %d MB for %d stalled one-byte bodies; want it bounded by what arrived", grew>>20, conns)
	}
}

// TestHandler_StalledBodyIsClosed: a body that stops arriving is answered
// and the connection closed after the body timeout, and the request's
// reservation goes back to the server's budget.
func TestHandler_StalledBodyIsClosed(t *testing.T) {
	b := budget.New(1 << 30)
	env := newTestEnv(t, func(c *envConfig) {
		unverified(c)
		c.opts.BodyTimeout = 100 * time.Millisecond
		c.opts.Budget = b
	})
	nc := rawHead(t, env.srv.Listener.Addr().String(), "PutRecords", 1000, `{"StreamName":`)
	// The connection's own deadline is 30 s: a server without a body
	// timeout fails here.
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stalled body answered %s; want 400", resp.Status)
	}
	env.srv.Close() // waits for the handler to return
	if got := b.InUse(); got != 0 {
		t.Fatalf("the budget holds %d bytes after the stalled request ended", got)
	}
}

// TestHandler_ControlBodiesAreSmall: control operations take at most
// MaxControlBodyBytes (1 MiB by default); only the data operations take
// the large limit.
func TestHandler_ControlBodiesAreSmall(t *testing.T) {
	env := newTestEnv(t, unverified)
	tags := `{"StreamName":"s","Tags":{"k":"` + strings.Repeat("v", 2<<20) + `"}}`
	resp, _ := env.do(t, nil, rawRequest{target: "AddTagsToStream", contentType: ContentTypeJSON, body: []byte(tags)})
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 2 MiB AddTagsToStream body: %s; want 413", resp.Status)
	}
	// A data operation of the same size is read (and fails on its content).
	put := `{"StreamName":"s","PartitionKey":"k","Data":"` + strings.Repeat("A", 2<<20) + `"}`
	resp, body := env.do(t, nil, rawRequest{target: "PutRecord", contentType: ContentTypeJSON, body: []byte(put)})
	if resp.StatusCode == http.StatusRequestEntityTooLarge || bytes.Contains(body, []byte("limit is")) {
		t.Fatalf("a 2 MiB PutRecord body was refused for its size: %s %s", resp.Status, body)
	}
}
