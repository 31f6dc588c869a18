package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const (
	// tcpChunk is the size of each write and read of the stream measurement.
	tcpChunk = 256 << 10
	// rttMessage is the size of the round-trip measurement's request and echo.
	rttMessage = 100
	// netSlack is added to the budget for the connection deadlines, which
	// only keep a broken measurement from hanging.
	netSlack = 10 * time.Second
)

// MeasureTCPStream measures the bandwidth of one loopback TCP connection on
// 127.0.0.1: the client writes 256 KiB chunks for opts.Budget, then closes
// its side; the figure is the bytes the server read until end of stream over
// the time from the first write to then.
func MeasureTCPStream(ctx context.Context, opts BaselineOptions) (RateFigure, error) {
	opts, ln, err := listenLoopback(opts)
	if err != nil {
		return RateFigure{}, err
	}
	defer ln.Close()

	type result struct {
		n   int64
		end time.Time
		err error
	}
	res := make(chan result, 1)
	// Sink goroutine: accepts one connection and reads it to end of stream,
	// then reports the byte count and when the end came. It ends when the
	// client closes, or on the connection deadline.
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(opts.Budget + netSlack))
		buf := make([]byte, tcpChunk)
		var n int64
		for {
			k, err := c.Read(buf)
			n += int64(k)
			if errors.Is(err, io.EOF) {
				res <- result{n: n, end: time.Now()}
				return
			}
			if err != nil {
				res <- result{err: err}
				return
			}
		}
	}()

	c, err := dialLoopback(ctx, ln, opts.Budget)
	if err != nil {
		return RateFigure{}, err
	}
	defer c.Close()
	unhook := context.AfterFunc(ctx, func() { c.Close() })
	defer unhook()

	buf := randomBytes(tcpChunk)
	start := time.Now()
	deadline := start.Add(opts.Budget)
	for first := true; first || time.Now().Before(deadline); first = false {
		if _, err := c.Write(buf); err != nil {
			return RateFigure{}, netErr(ctx, "write", err)
		}
	}
	if err := c.CloseWrite(); err != nil {
		return RateFigure{}, netErr(ctx, "close", err)
	}
	r := <-res
	if r.err != nil {
		return RateFigure{}, netErr(ctx, "read", r.err)
	}
	return rateFigure(r.n, r.end.Sub(start)), nil
}

// MeasureTCPRoundTrip measures the round trip of a 100-byte message that a
// server on 127.0.0.1 echoes back over one connection, one at a time, for up
// to opts.Samples samples or opts.Budget.
func MeasureTCPRoundTrip(ctx context.Context, opts BaselineOptions) (LatencyFigure, error) {
	opts, ln, err := listenLoopback(opts)
	if err != nil {
		return LatencyFigure{}, err
	}
	defer ln.Close()

	done := make(chan struct{})
	// Echo goroutine: accepts one connection and echoes every 100-byte
	// message until the client closes it (or the deadline passes).
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(opts.Budget + netSlack))
		buf := make([]byte, rttMessage)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()

	c, err := dialLoopback(ctx, ln, opts.Budget)
	if err != nil {
		return LatencyFigure{}, err
	}
	unhook := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		unhook()
		c.Close()
		<-done
	}()

	msg := randomBytes(rttMessage)
	echo := make([]byte, rttMessage)
	h := newNanosHistogram()
	deadline := time.Now().Add(opts.Budget)
	for range opts.Samples {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return LatencyFigure{}, netErr(ctx, "write", err)
		}
		if _, err := io.ReadFull(c, echo); err != nil {
			return LatencyFigure{}, netErr(ctx, "read", err)
		}
		t1 := time.Now()
		recordNanos(h, t1.Sub(t0))
		if t1.After(deadline) {
			break
		}
	}
	return latencyFigure(h), nil
}

// listenLoopback fills in opts' defaults and listens on a free port of
// 127.0.0.1 for the measurement's one connection.
func listenLoopback(opts BaselineOptions) (BaselineOptions, net.Listener, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return opts, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return opts, nil, fmt.Errorf("bench: baseline listen: %w", err)
	}
	return opts, ln, nil
}

// dialLoopback connects to ln with a deadline covering the measurement.
func dialLoopback(ctx context.Context, ln net.Listener, budget time.Duration) (*net.TCPConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("bench: baseline dial %s: %w", ln.Addr(), err)
	}
	_ = c.SetDeadline(time.Now().Add(budget + netSlack))
	return c.(*net.TCPConn), nil
}

// netErr reports the context's error when the measurement was cancelled
// (the connection was closed under it), and the I/O error otherwise.
func netErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("bench: baseline loopback %s: %w", op, err)
}
