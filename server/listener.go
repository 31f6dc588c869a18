package server

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sluicedb/sluice/internal/ratelog"
)

// limitListener bounds the connections the HTTP door holds at once: at the
// limit, Accept waits for one to close, and new clients queue in the
// kernel's backlog instead of costing the process memory. It also retries
// transient accept failures (out of file descriptors) itself, with backoff
// and at most one log line a second, so that they neither end the server
// nor flood its log.
type limitListener struct {
	net.Listener
	slots chan struct{} // one token per open connection
	log   *slog.Logger
	rl    ratelog.Limiter
	done  chan struct{} // closed by Close: Accept stops waiting for a slot
	once  sync.Once
}

func newLimitListener(l net.Listener, max int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, max), log: log, done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return &limitConn{Conn: c, release: l.release}, nil
		}
		var t interface{ Temporary() bool }
		if errors.Is(err, net.ErrClosed) || !errors.As(err, &t) || !t.Temporary() {
			<-l.slots
			return nil, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		l.rl.Log(l.log, slog.LevelWarn, "accept failed; retrying", "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-l.done:
			<-l.slots
			return nil, net.ErrClosed
		}
	}
}

func (l *limitListener) release() { <-l.slots }

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
