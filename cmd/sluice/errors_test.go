package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/wire"
)

func TestDescribeError_Messages(t *testing.T) {
	addr := "127.0.0.1:4568"
	notFound := &wire.Error{Code: api.CodeResourceNotFound, Name: "ResourceNotFoundException",
		Message: "Stream x under account 000000000000 not found."}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name string
		err  error
		want []string
	}{
		{"server error", notFound, []string{"ResourceNotFoundException: Stream x under account 000000000000 not found."}},
		{"refused", &dialError{addr: addr, err: fmt.Errorf("dial %s: %w", addr, refused)},
			[]string{"cannot connect", addr, "connection refused", "make run", "--addr"}},
		{"not sluice", &dialError{addr: addr, err: fmt.Errorf("connect: %w: bad magic", wire.ErrHandshake)},
			[]string{addr, "does not speak sluice's binary protocol", "--http"}},
		{"no answer", &dialError{addr: addr, err: context.DeadlineExceeded}, []string{"no answer from " + addr, "--timeout"}},
		{"lost", fmt.Errorf("follow shardId-000000000001: %w", &testConnLost{cause: errors.New("the server closed the connection")}),
			[]string{"lost the connection to the server at " + addr, "the server closed the connection"}},
		{"slow", fmt.Errorf("describe: %w", context.DeadlineExceeded), []string{"did not answer within 3s", "--timeout"}},
		{"usage", usagef("stream create", "--shards N is required"), []string{"--shards N is required", "sluice stream create -h"}},
	}
	for _, c := range cases {
		got := describeError(c.err, addr, 3*time.Second)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", c.name, got, w)
			}
		}
	}
}

// testConnLost stands in for the client's lost-connection error.
type testConnLost struct{ cause error }

func (e *testConnLost) Error() string        { return "wire: connection lost: " + e.cause.Error() }
func (e *testConnLost) Unwrap() error        { return e.cause }
func (e *testConnLost) Is(target error) bool { return target == wire.ErrConnectionLost }

func TestRun_ConnectionRefusedNamesAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	code, stdout, stderr := runCLI(t, "", "--addr", addr, "stream", "list")
	if code != exitError || stdout != "" {
		t.Fatalf("exit %d stdout %q; want 1 and no output", code, stdout)
	}
	for _, want := range []string{"sluice: cannot connect to a sluice server at " + addr, "make run", "--addr"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
}
