package wireserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/budget"
	"github.com/sluicedb/sluice/internal/ratelog"
	"github.com/sluicedb/sluice/wire"
)

// ServerOptions configures a Server. Zero fields take the documented
// defaults.
type ServerOptions struct {
	// MaxConns bounds the open connections; default 10,000. A client over
	// the limit gets a hello with the "busy" status and a closed connection.
	MaxConns int
	// MaxInFlightBytes bounds, per connection, the bytes of requests read
	// but not yet answered plus responses queued but not yet written;
	// default 64 MiB. At the limit the server stops reading the connection
	// until responses drain (backpressure); it may be exceeded by one frame.
	MaxInFlightBytes int
	// MaxInFlightRequests bounds the requests of one connection being
	// served at once; default 4096. Pipelining deeper than this waits.
	MaxInFlightRequests int
	// MaxSubscriptions bounds the subscriptions open on one connection;
	// default 1024. A Subscribe over the limit fails with
	// LimitExceededException.
	MaxSubscriptions int
	// MaxFrameSize is the largest frame accepted from a client, header
	// included; default DefaultMaxFrameSize (16 MiB), at least
	// MinMaxFrameSize. A larger frame is answered with an error and the
	// connection is closed.
	MaxFrameSize int
	// MaxEventBytes bounds the record frames in one subscription event;
	// default 1 MiB. Larger events cost fewer frames, smaller ones lower
	// latency for a subscriber with a large credit.
	MaxEventBytes int
	// IdleTimeout closes a connection that has sent nothing for this long
	// while it has no request in flight and no subscription; default 5
	// minutes; negative disables it.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the wait for the client's hello; default 10 s.
	HandshakeTimeout time.Duration
	// FrameTimeout bounds the arrival of a frame's body once its header
	// has arrived; default 30 s; negative disables it. A client that stalls
	// in the middle of a frame is disconnected and what it sent released.
	FrameTimeout time.Duration
	// Budget is the server-wide allowance of in-flight bytes (requests
	// read and not yet answered, responses not yet written), shared with
	// the other front door; nil means no server-wide limit. A frame's size
	// is reserved when its header arrives (its memory still grows only as
	// its bytes arrive): while the budget is spent, readers stop reading
	// until it frees up.
	Budget *budget.Budget
	// WriteTimeout bounds one write of queued responses to a client that
	// does not read; default 1 minute; negative disables it. On expiry the
	// connection closes.
	WriteTimeout time.Duration
	// ReadBufferSize is the per-connection read buffer; default 16 KiB.
	// Frames larger than it are read straight into their body buffer.
	ReadBufferSize int
	// Logger receives connection and protocol-violation logs; default
	// slog.Default().
	Logger *slog.Logger
	// Auth, if set, holds the identities every connection must
	// authenticate as (the challenge-response after the hellos), and every
	// request is then authorized against the identity's policy and the
	// stream's resource policy. nil: connections are not authenticated,
	// requests run as "anonymous" and nothing is authorized.
	Auth *auth.Store
	// Audit, if set, receives one event per mutating request and per
	// denied request or authentication.
	Audit *auth.Audit
	// Region and Account make the stream ARNs requests are authorized on
	// (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME); defaults us-east-1 and
	// the users file's account (000000000000 without Auth).
	Region, Account string
	// Cluster, if set, is the cluster the engine is a node of: ShardMap
	// answers with its view of the shards' leaders, and a PutShard for a
	// shard this node does not lead is refused with NotLeaderException.
	// nil: a single node, which leads every shard.
	Cluster Cluster
	// OnConnections, if set, is called with the number of open connections
	// after every change (a metrics hook: a gauge). It must be cheap and
	// must not call back into the Server.
	OnConnections func(open int)
}

func (o *ServerOptions) setDefaults() {
	wire.DefaultPositive(&o.MaxConns, 10000)
	wire.DefaultPositive(&o.MaxInFlightBytes, 64<<20)
	wire.DefaultPositive(&o.MaxInFlightRequests, 4096)
	wire.DefaultPositive(&o.MaxSubscriptions, 1024)
	wire.DefaultPositive(&o.MaxFrameSize, wire.DefaultMaxFrameSize)
	o.MaxFrameSize = max(o.MaxFrameSize, wire.MinMaxFrameSize)
	wire.DefaultPositive(&o.MaxEventBytes, 1<<20)
	wire.DefaultZero(&o.IdleTimeout, 5*time.Minute)
	wire.DefaultPositive(&o.HandshakeTimeout, 10*time.Second)
	wire.DefaultZero(&o.FrameTimeout, 30*time.Second)
	wire.DefaultZero(&o.WriteTimeout, time.Minute)
	wire.DefaultPositive(&o.ReadBufferSize, 16<<10)
	wire.DefaultZero(&o.Logger, slog.Default())
	wire.DefaultZero(&o.Region, "us-east-1")
	if o.Account == "" && o.Auth != nil {
		o.Account = o.Auth.Account()
	}
	wire.DefaultZero(&o.Account, auth.DefaultAccount)
}

// Server serves the binary protocol for an Engine. Create one with
// NewServer, run Serve on one or more listeners, and stop it with Shutdown
// (graceful) or Close.
type Server struct {
	eng  *engine.Engine
	opts ServerOptions
	log  *slog.Logger

	// mu guards listeners, conns and closing.
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool

	acceptLog   ratelog.Limiter // accept failures and refusals, at most one line a second
	internalLog ratelog.Limiter // internal failures of requests

	// defaultKey is the ARN of the key alias/aws/kinesis names, once known
	// (see isDefaultKey).
	defaultKey atomic.Pointer[string]

	open     atomic.Int64   // connections open, counted against MaxConns
	draining atomic.Bool    // Shutdown or Close has begun
	connWG   sync.WaitGroup // one per connection goroutine

	// testHookCreditWait, if set, is called each time a subscription parks
	// waiting for credit, with the bytes of record frames it has sent.
	testHookCreditWait func(sent int64)
	// testHookBodyRead, if set, is called by a reader after each piece of a
	// frame's body arrives, with the bytes read so far and the body's size.
	testHookBodyRead func(got, size int)
	// testHookControl, if set, is called before a control operation runs.
	testHookControl func(wire.Op)
	// testHookControlVeto, if set, refuses the control operations for which
	// it returns true.
	testHookControlVeto func(wire.Op) bool
}

// NewServer returns a server for eng. It does not own eng: closing the
// server leaves the engine open.
func NewServer(eng *engine.Engine, opts ServerOptions) *Server {
	opts.setDefaults()
	return &Server{
		eng:       eng,
		opts:      opts,
		log:       opts.Logger,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
}

// Connections returns the number of open connections.
func (s *Server) Connections() int { return int(s.open.Load()) }

// Serve accepts connections on l and serves each on its own goroutines
// until Shutdown or Close, when it returns ErrServerClosed; it returns any
// other accept error that is not temporary. Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return wire.ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	s.log.Info("serving the binary protocol", "addr", l.Addr().String())
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.draining.Load() {
				return wire.ErrServerClosed
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.acceptLog.Log(s.log, slog.LevelWarn, "accept failed; retrying", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.accept(nc)
	}
}

// isTemporary reports accept errors worth retrying (out of file
// descriptors, aborted connections).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// accept starts serving nc, or refuses it when the server is full or
// closing.
func (s *Server) accept(nc net.Conn) {
	if n := s.open.Add(1); n > int64(s.opts.MaxConns) {
		s.open.Add(-1)
		s.acceptLog.Log(s.log, slog.LevelWarn, "refusing connection: too many connections", "remote", nc.RemoteAddr().String(), "limit", s.opts.MaxConns)
		s.connWG.Add(1)
		go func() {
			defer s.connWG.Done()
			s.refuse(nc, wire.StatusBusy)
		}()
		return
	}
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.open.Add(-1)
		s.connWG.Add(1)
		go func() {
			defer s.connWG.Done()
			s.refuse(nc, wire.StatusShutdown)
		}()
		return
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	s.connsChanged()
	go func() {
		defer s.connWG.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.open.Add(-1)
		s.connsChanged()
	}()
}

func (s *Server) connsChanged() {
	if s.opts.OnConnections != nil {
		s.opts.OnConnections(int(s.open.Load()))
	}
}

// refuse reads the client's hello (so that the client sees the answer
// rather than a reset), answers with status, and closes.
func (s *Server) refuse(nc net.Conn, status uint16) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	if _, err := wire.ReadHello(nc); err != nil {
		return
	}
	b := wire.Hello{Version: wire.Version, Status: status, MaxFrame: uint32(s.opts.MaxFrameSize)}.Marshal()
	nc.Write(b[:])
}

// Shutdown stops the server gracefully: it stops accepting, stops reading
// new requests, finishes the requests in flight and writes their responses,
// ends every subscription with an error response saying the server is
// shutting down, sends each client a GoAway and closes its connection. If
// ctx ends first, the remaining connections are closed at once and
// Shutdown returns ctx's error. The engine stays open.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.beginClose()
	for _, c := range conns {
		c.drain()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once; requests in
// flight may or may not have taken effect.
func (s *Server) Close() error {
	conns := s.beginClose()
	for _, c := range conns {
		c.drain()
		c.nc.Close()
	}
	s.connWG.Wait()
	return nil
}

// beginClose marks the server closing, closes the listeners and returns
// the open connections.
func (s *Server) beginClose() []*conn {
	s.draining.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}
