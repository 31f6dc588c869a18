package server

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestLimitListener_NeverHoldsMoreThanItsLimit: with a limit of 2 and 5
// clients, at no time are more than 2 connections accepted and open, and
// every client is accepted once earlier ones close.
func TestLimitListener_NeverHoldsMoreThanItsLimit(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(inner, 2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer l.Close()
	var open, peak atomic.Int32
	accepted := make(chan net.Conn, 5) // buffered: an unbounded listener would accept all 5 at once
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			if n := open.Add(1); n > peak.Load() {
				peak.Store(n)
			}
			accepted <- c
		}
	}()
	for range 5 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	// Hold the first two; each later one is accepted only after one of
	// those held closes.
	held := []net.Conn{<-accepted, <-accepted}
	for range 3 {
		open.Add(-1) // before Close gives the slot back
		held[0].Close()
		held = append(held[1:], <-accepted)
		if p := peak.Load(); p > 2 {
			t.Fatalf("%d connections accepted and open at once; the limit is 2", p)
		}
	}
	l.Close()
	if _, ok := <-accepted; ok {
		t.Fatal("Accept returned a connection after Close")
	}
}

// TestServer_HTTP2MaxConcurrentStreams: the server's HTTP/2 SETTINGS
// announce the configured bound on concurrent streams (Go's default is 250).
func TestServer_HTTP2MaxConcurrentStreams(t *testing.T) {
	s := StartTest(t)
	nc, err := net.Dial("tcp", s.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	// Prior-knowledge h2c: the preface and an empty SETTINGS frame.
	if _, err := nc.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
		t.Fatal(err)
	}
	for {
		var hdr [9]byte
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			t.Fatalf("no SETTINGS from the server: %v", err)
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		payload := make([]byte, n)
		if _, err := io.ReadFull(nc, payload); err != nil {
			t.Fatal(err)
		}
		if hdr[3] != 0x4 || hdr[4]&0x1 != 0 { // SETTINGS, not an ACK
			continue
		}
		for i := 0; i+6 <= len(payload); i += 6 {
			if binary.BigEndian.Uint16(payload[i:]) == 0x3 { // SETTINGS_MAX_CONCURRENT_STREAMS
				if v := binary.BigEndian.Uint32(payload[i+2:]); v != 100 {
					t.Fatalf("MAX_CONCURRENT_STREAMS = %d; want the default 100", v)
				}
				return
			}
		}
		t.Fatalf("the server's SETTINGS do not bound concurrent streams: % x", payload)
	}
}
