package soak

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/sluicedb/sluice/wire"
)

// The attack primitives: each opens one raw connection and misbehaves on
// it in one way. They are exported for the end-to-end tests.

// dialTimeout bounds a hostile dial (a full listen backlog can hold one).
const dialTimeout = 10 * time.Second

// StallHTTPBody dials the Kinesis API at addr, sends the head of an op
// request declaring a body of declared bytes and then only sent, and
// returns the connection for the caller to watch and close.
func StallHTTPBody(addr, op string, declared int64, sent []byte) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	if _, err := nc.Write(append(APIHead(op, declared), sent...)); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// Handshake dials the binary protocol at addr and exchanges hellos.
func Handshake(addr string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(dialTimeout))
	hello := wire.Hello{Version: wire.Version, MaxFrame: wire.DefaultMaxFrameSize}.Marshal()
	if _, err := nc.Write(hello[:]); err != nil {
		nc.Close()
		return nil, err
	}
	h, err := wire.ReadHello(nc)
	if err == nil && h.Status != wire.StatusOK {
		err = fmt.Errorf("the server's hello has status %d", h.Status)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

// StallFrame handshakes on the binary protocol and sends the header of an
// op frame (request id 1) that declares size bytes, header included, and
// nothing of its body. It returns the connection for the caller to watch
// and close.
func StallFrame(addr string, op wire.Op, size int) (net.Conn, error) {
	nc, err := Handshake(addr)
	if err != nil {
		return nil, err
	}
	var h [wire.HeaderSize]byte
	wire.PutHeader(h[:], wire.Header{Size: size, Op: op, ID: 1})
	if _, err := nc.Write(h[:]); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// ErrNotClosed is returned by AwaitClose when the server kept the
// connection open for the whole wait.
var ErrNotClosed = errors.New("soak: the server kept the connection open")

// AwaitClose reads and discards what the server sends on nc until the
// server closes it (end of stream or reset) or limit passes, and returns
// up to the first 4 KiB it sent. The error is nil when the server closed
// the connection, and wraps ErrNotClosed when limit passed first.
func AwaitClose(nc net.Conn, limit time.Duration) ([]byte, error) {
	nc.SetReadDeadline(time.Now().Add(limit))
	var first []byte
	buf := make([]byte, 4<<10)
	for {
		n, err := nc.Read(buf)
		if len(first) < cap(buf) {
			first = append(first, buf[:min(n, cap(buf)-len(first))]...)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			return first, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return first, fmt.Errorf("%w for %v", ErrNotClosed, limit)
		default:
			return first, err
		}
	}
}
