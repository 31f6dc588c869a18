// Package server assembles a sluice server: the engine on a data directory,
// the binary protocol on one address, and the Kinesis HTTP API, /metrics and
// /healthz on another. cmd/sluiced is a thin command line around it; tests
// and the benchmark tool start it in-process.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/cluster/node"
	"github.com/sluicedb/sluice/console"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/budget"
	"github.com/sluicedb/sluice/kinesis"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/segment"
	"github.com/sluicedb/sluice/wire/wireserver"
)

// Config is a server's configuration. Zero fields take the documented
// defaults; the flags of cmd/sluiced and the keys of its config file map onto
// these fields one to one.
type Config struct {
	// DataDir holds the catalog and every shard's segments; default ./data.
	DataDir string `json:"data_dir"`
	// Listen is the binary protocol's address; default 127.0.0.1:4568.
	// Port 0 picks a free port (see WireAddr).
	Listen string `json:"listen"`
	// HTTP is the Kinesis API, /metrics and /healthz address; default
	// 127.0.0.1:4567. Port 0 picks a free port (see HTTPAddr).
	HTTP string `json:"http"`
	// Fsync is the acknowledgement mode: always (default: after fdatasync),
	// interval, or none.
	Fsync string `json:"fsync"`
	// SyncInterval is how often the interval mode syncs; default 50ms.
	SyncInterval Duration `json:"sync_interval"`
	// NoCommitLog turns the node-wide commit log off (package commitlog):
	// each durable batch is then synced in its own shard's segment.
	NoCommitLog bool `json:"no_commit_log"`
	// NodeID, Peers, RaftListen, ReplicationFactor, Zone and
	// ElectionTimeout make the server a node of a cluster (package
	// cluster/node); without Peers it runs alone. Peers is the
	// --peers list: ID=HOST:PORT of every node's Raft transport.
	NodeID            uint64   `json:"node_id,omitempty"`
	Peers             string   `json:"peers,omitempty"`
	RaftListen        string   `json:"raft_listen,omitempty"`
	ReplicationFactor int      `json:"replication_factor,omitempty"`
	Zone              string   `json:"zone,omitempty"`
	ElectionTimeout   Duration `json:"election_timeout,omitempty"`
	// Quotas is the default quota of streams that set none: kinesis
	// (default; Kinesis's per-shard limits) or unlimited.
	Quotas string `json:"quotas"`
	// SegmentSize is the size at which segments are sealed; default 128 MiB.
	SegmentSize int64 `json:"segment_size"`
	// MaxConns bounds the binary protocol's connections; default 10,000.
	MaxConns int `json:"max_conns"`
	// MaxInFlightBytes bounds each binary connection's unanswered request
	// and unwritten response bytes; default 64 MiB.
	MaxInFlightBytes int `json:"max_inflight_bytes"`
	// IdleTimeout closes idle connections on both front doors; default 5m.
	IdleTimeout Duration `json:"idle_timeout"`
	// MaxInFlightTotal is the server-wide allowance of in-flight request
	// bytes, shared by both front doors (a request's declared size is
	// reserved before its body is read; readers wait while it is spent);
	// default 1 GiB; negative disables it.
	MaxInFlightTotal int64 `json:"max_inflight_total"`
	// MaxHTTPConns bounds the HTTP door's open connections; default 10,000.
	// At the limit new connections wait in the listen backlog.
	MaxHTTPConns int `json:"max_http_conns"`
	// HTTP2MaxStreams bounds the concurrent requests of one HTTP/2
	// connection; default 100.
	HTTP2MaxStreams int `json:"http2_max_streams"`
	// HeaderTimeout bounds the arrival of an HTTP request's headers;
	// default 10s.
	HeaderTimeout Duration `json:"header_timeout"`
	// BodyTimeout bounds the arrival of an HTTP request's body once its
	// headers are in; default 30s.
	BodyTimeout Duration `json:"body_timeout"`
	// FrameTimeout bounds the arrival of a binary-protocol frame once its
	// header is in; default 30s.
	FrameTimeout Duration `json:"frame_timeout"`
	// WriteTimeout bounds the writing of one response or pushed event on
	// both doors; a client that stops reading is dropped; default 1m.
	WriteTimeout Duration `json:"write_timeout"`
	// MaxStreams and MaxShards cap the streams and shards the server
	// holds (CreateStream and resharding past them fail with
	// LimitExceededException); defaults 1,000 and 10,000.
	MaxStreams int `json:"max_streams"`
	MaxShards  int `json:"max_shards"`
	// RecoverCatalog rebuilds a missing or damaged catalog from the stream
	// directories instead of refusing to start (see engine.Options).
	RecoverCatalog bool `json:"recover_catalog"`
	// RemoveOrphans deletes stream directories the catalog does not name;
	// by default they are kept and logged.
	RemoveOrphans bool `json:"remove_orphans"`
	// AutoscaleWindow, AutoscaleMergeWindow, AutoscaleSplitThreshold and
	// AutoscaleMergeThreshold set how ON_DEMAND streams rescale (see
	// engine.AutoscaleOptions); zero takes the defaults, 5m, 30m, 0.8 and
	// 0.2. AutoscaleMidpoint splits at the middle of a hot shard's range,
	// as Kinesis does, instead of where its traffic is.
	AutoscaleWindow         Duration `json:"autoscale_window"`
	AutoscaleMergeWindow    Duration `json:"autoscale_merge_window"`
	AutoscaleSplitThreshold float64  `json:"autoscale_split_threshold"`
	AutoscaleMergeThreshold float64  `json:"autoscale_merge_threshold"`
	AutoscaleMidpoint       bool     `json:"autoscale_midpoint"`
	// Region and Account appear in stream and consumer ARNs; defaults
	// us-east-1 and 000000000000.
	Region  string `json:"region"`
	Account string `json:"account"`

	// TLSCert and TLSKey are PEM files of the server's certificate chain
	// and private key. Given both, both doors serve TLS only: the HTTP door
	// HTTPS (HTTP/2 through ALPN, and HTTP/1.1), the binary protocol TLS
	// from the first byte. TLS 1.2 at least, Go's default cipher suites.
	// Reload re-reads them. One without the other refuses to start.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// TLSClientCA is a PEM file of the CA certificates that sign client
	// certificates: with it, every connection to either door must present
	// one (mutual TLS). Requires TLSCert and TLSKey; Reload re-reads it.
	TLSClientCA string `json:"tls_client_ca"`
	// AuthFile is the users file (identities and their policies; see
	// package auth). With it every request must be authenticated; without
	// it the server is open to anyone who can reach it, and so binds only
	// to loopback addresses unless Insecure. Reload re-reads it.
	AuthFile string `json:"auth"`
	// CORSOrigins is a comma-separated list of the web origins
	// (scheme://host[:port]) whose pages may call the Kinesis API from a
	// browser; "*" allows any. Empty: any without AuthFile, none with it.
	CORSOrigins string `json:"cors_origins"`
	// AuditLog, if set, is a file that receives one JSON line per mutating
	// or denied request (appended; created 0600).
	AuditLog string `json:"audit_log"`
	// Insecure allows a door on a non-loopback address without AuthFile
	// (then anyone who reaches it may read, write and delete every
	// stream); the server logs a warning.
	Insecure bool `json:"insecure"`
	// MetricsToken, if set, is the bearer token /metrics requires
	// ("Authorization: Bearer TOKEN"); /healthz stays open.
	MetricsToken string `json:"metrics_token"`
	// KMSKeys is the directory of the keyring that holds the master keys of
	// encryption at rest (package kms); default DATA_DIR/kms. It is created
	// when the data directory holds no stream that is or was encrypted, and
	// must exist otherwise: a server whose data needs its keys refuses to
	// start without them.
	KMSKeys string `json:"kms_keys"`
	// KMSPassphrase seals the keyring (see package kms); "" leaves it
	// unsealed. sluiced reads it from SLUICE_KMS_PASSPHRASE, never from a
	// flag or the config file.
	KMSPassphrase string `json:"-"`

	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger `json:"-"`
	// Now is the engine's clock; default time.Now (tests inject one).
	Now func() time.Time `json:"-"`
}

// Duration is a time.Duration that reads and writes as "50ms" in JSON.
type Duration time.Duration

// MarshalText writes the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a duration in Go syntax ("50ms", "5m").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:4568"
	}
	if c.HTTP == "" {
		c.HTTP = "127.0.0.1:4567"
	}
	if c.Fsync == "" {
		c.Fsync = "always"
	}
	if c.Quotas == "" {
		c.Quotas = "kinesis"
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = Duration(5 * time.Minute)
	}
	if c.MaxInFlightTotal == 0 {
		c.MaxInFlightTotal = 1 << 30
	}
	if c.MaxHTTPConns <= 0 {
		c.MaxHTTPConns = 10000
	}
	if c.HTTP2MaxStreams <= 0 {
		c.HTTP2MaxStreams = 100
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = Duration(10 * time.Second)
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = Duration(kinesis.DefaultBodyTimeout)
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = Duration(30 * time.Second)
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = Duration(kinesis.DefaultWriteTimeout)
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Account == "" {
		c.Account = "000000000000"
	}
	if c.KMSKeys == "" {
		c.KMSKeys = filepath.Join(c.DataDir, "kms")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is a running sluice server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	eng     *engine.Engine
	node    *node.Node // nil on a single node
	wire    *wireserver.Server
	http    *http.Server
	wireLn  net.Listener
	httpLn  net.Listener
	metrics *metrics
	served  chan error // one value per front door when it stops serving

	console *console.Console

	tls   *serverTLS  // nil without TLS
	auth  *auth.Store // nil without --auth
	audit *auth.Audit // nil without --audit-log
}

// Start opens the engine (recovering every shard), binds both addresses and
// starts serving. It returns once the server accepts connections.
func Start(cfg Config) (*Server, error) {
	cfg.setDefaults()
	dur, err := api.ParseDurability(cfg.Fsync)
	if err != nil {
		return nil, fmt.Errorf("--fsync: %w", err)
	}
	quotas, err := ratelimit.Preset(cfg.Quotas)
	if err != nil {
		return nil, fmt.Errorf("--quotas: %w", err)
	}
	if cfg.SegmentSize != 0 {
		if err := segment.CheckSegmentSize(cfg.SegmentSize); err != nil {
			return nil, fmt.Errorf("--segment-size: %w", err)
		}
	}
	if err := checkExposure(&cfg); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, served: make(chan error, 2)}
	if s.tls, err = newServerTLS(&cfg); err != nil {
		return nil, err
	}
	if cfg.AuthFile != "" {
		if s.auth, err = auth.Open(cfg.AuthFile); err != nil {
			return nil, fmt.Errorf("--auth: %w", err)
		}
		if err := adoptAccount(&cfg, s.auth); err != nil {
			return nil, err
		}
		s.cfg.Account = cfg.Account
	}
	if cfg.AuditLog != "" {
		if s.audit, err = auth.OpenAudit(cfg.AuditLog); err != nil {
			return nil, fmt.Errorf("--audit-log: %w", err)
		}
	}
	if err := s.start(dur, quotas); err != nil {
		s.audit.Close()
		return nil, err
	}
	return s, nil
}

// start opens the engine and the doors of a server whose settings are
// checked.
func (s *Server) start(dur api.Durability, quotas ratelimit.Limits) error {
	cfg := s.cfg
	keys, err := openKeys(&cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	nd, err := openNode(cfg)
	if err != nil {
		return err
	}
	var replica engine.Replica
	if nd != nil {
		replica = nd
	}
	eng, err := engine.Open(engine.Options{
		Replica: replica,
		Keys:    keys,
		Dir:     cfg.DataDir, Durability: dur, SyncInterval: time.Duration(cfg.SyncInterval), Quotas: &quotas,
		SegmentSize: cfg.SegmentSize, Logger: cfg.Logger, OnSync: m.observeSync, Now: cfg.Now,
		MaxStreams: cfg.MaxStreams, MaxShards: cfg.MaxShards,
		RecoverCatalog: cfg.RecoverCatalog, RemoveOrphans: cfg.RemoveOrphans,
		NoCommitLog: cfg.NoCommitLog,
		Autoscale: engine.AutoscaleOptions{
			Window: time.Duration(cfg.AutoscaleWindow), MergeWindow: time.Duration(cfg.AutoscaleMergeWindow),
			SplitThreshold: cfg.AutoscaleSplitThreshold, MergeThreshold: cfg.AutoscaleMergeThreshold,
			Midpoint: cfg.AutoscaleMidpoint,
		},
	})
	if err != nil {
		if nd != nil {
			nd.Close()
		}
		return err
	}
	closeAll := func() {
		if nd != nil {
			nd.Close()
		}
		eng.Close()
	}
	m.eng = eng
	if nd != nil {
		reg.MustRegister(newClusterMetrics(nd))
	}
	inflight := budget.New(cfg.MaxInFlightTotal)
	m.budget = inflight
	s.eng, s.metrics, s.node = eng, m, nd

	s.wireLn, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		closeAll()
		return fmt.Errorf("listen on %s (--listen): %w", cfg.Listen, err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		s.wireLn.Close()
		closeAll()
		return fmt.Errorf("listen on %s (--http): %w", cfg.HTTP, err)
	}
	var iterKey []byte
	if nd != nil {
		self := node.NodeInfo{Listen: s.wireLn.Addr().String(), HTTP: httpLn.Addr().String()}
		if err := nd.Start(eng, self); err != nil {
			s.wireLn.Close()
			httpLn.Close()
			closeAll()
			return err
		}
		if iterKey, err = clusterKey(nd, s); err != nil {
			s.wireLn.Close()
			httpLn.Close()
			closeAll()
			return err
		}
	}
	kin, err := newKinesisHandler(cfg, eng, inflight, s.auth, s.audit, iterKey)
	if err != nil {
		s.wireLn.Close()
		httpLn.Close()
		closeAll()
		return err
	}
	if s.tls != nil {
		// The binary protocol is TLS from the first byte. The handshake
		// runs lazily, inside the read of the client's hello, and so under
		// the hello's deadline (HandshakeTimeout).
		s.wireLn = tls.NewListener(s.wireLn, s.tls.listenerConfig(&s.tls.wire))
	}
	s.httpLn = newLimitListener(httpLn, cfg.MaxHTTPConns, cfg.Logger.With("door", "http"))
	wireConns := m.connections.WithLabelValues("wire")
	s.wire = wireserver.NewServer(eng, wireserver.ServerOptions{
		MaxConns: cfg.MaxConns, MaxInFlightBytes: cfg.MaxInFlightBytes, IdleTimeout: time.Duration(cfg.IdleTimeout),
		FrameTimeout: time.Duration(cfg.FrameTimeout), WriteTimeout: time.Duration(cfg.WriteTimeout), Budget: inflight,
		Auth: s.auth, Audit: s.audit, Region: cfg.Region, Account: cfg.Account,
		Cluster:       wireClusterOf(nd),
		Logger:        cfg.Logger.With("door", "wire"),
		OnConnections: func(open int) { wireConns.Set(float64(open)) },
	})

	mux := http.NewServeMux()
	var metricsHandler http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if cfg.MetricsToken != "" {
		metricsHandler = requireBearer(cfg.MetricsToken, metricsHandler)
	}
	mux.Handle("GET /metrics", metricsHandler)
	mux.HandleFunc("GET /healthz", s.healthz)
	var statusHandler http.Handler = http.HandlerFunc(s.clusterStatus)
	if cfg.MetricsToken != "" {
		statusHandler = requireBearer(cfg.MetricsToken, statusHandler)
	}
	mux.Handle("GET /cluster/status", statusHandler)
	if nd != nil && os.Getenv(faultInjectionEnv) == "1" {
		cfg.Logger.Warn("fault injection is on ($" + faultInjectionEnv + "=1): POST /cluster/faults cuts this node off from others")
		mux.HandleFunc("POST /cluster/faults", s.clusterFaults)
	}
	// The web console and its JSON API (package console).
	s.console, err = console.New(console.Options{
		Engine: eng, Auth: s.auth, Audit: s.audit, Region: cfg.Region, Account: cfg.Account,
		Now: cfg.Now, Logger: cfg.Logger.With("door", "console"),
	})
	if err != nil {
		s.wireLn.Close()
		s.httpLn.Close()
		closeAll()
		return err
	}
	mux.Handle(console.Prefix, s.console)
	// The Kinesis API: POST with X-Amz-Target on any path (the SDKs post to
	// the endpoint's path, "/" by default).
	mux.Handle("/", kin)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if s.tls != nil {
		protocols.SetHTTP2(true) // over TLS, chosen through ALPN
	} else {
		protocols.SetUnencryptedHTTP2(true) // with prior knowledge (the JS SDK v3's default)
	}
	httpConns := m.connections.WithLabelValues("http")
	httpAccepted := m.accepted.WithLabelValues("http")
	s.http = &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: cfg.HTTP2MaxStreams},
		ReadHeaderTimeout: time.Duration(cfg.HeaderTimeout), // also bounds the TLS handshake
		IdleTimeout:       time.Duration(cfg.IdleTimeout),
		ErrorLog:          slog.NewLogLogger(cfg.Logger.With("door", "http").Handler(), slog.LevelWarn),
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				httpAccepted.Inc()
				httpConns.Inc()
			case http.StateClosed, http.StateHijacked:
				httpConns.Dec()
			}
		},
	}
	// Subscriptions hold their connections for minutes: end them when the
	// server shuts down, so that Shutdown does not wait them out.
	s.http.RegisterOnShutdown(kin.Close)
	s.http.RegisterOnShutdown(s.console.Close) // and the console's live tails
	go func() { s.served <- s.wire.Serve(s.wireLn) }()
	if s.tls != nil {
		s.http.TLSConfig = s.tls.listenerConfig(&s.tls.http)
		go func() { s.served <- s.http.ServeTLS(s.httpLn, "", "") }()
	} else {
		go func() { s.served <- s.http.Serve(s.httpLn) }()
	}
	attrs := []any{"data_dir", cfg.DataDir, "listen", s.wireLn.Addr().String(),
		"http", s.httpLn.Addr().String(), "fsync", dur.String(), "quotas", cfg.Quotas, "tls", s.tls != nil}
	if s.tls != nil {
		leaf := s.tls.certificate()
		attrs = append(attrs, "mtls", cfg.TLSClientCA != "", "cert_subject", leaf.Subject.String(), "cert_expires", leaf.NotAfter.UTC())
	}
	attrs = append(attrs, "kms_keys", keys.Dir(), "kms_sealed", cfg.KMSPassphrase != "")
	if s.auth != nil {
		attrs = append(attrs, "auth", cfg.AuthFile, "users", len(s.auth.Users().List()))
	}
	s.log.Info("sluiced serving", attrs...)
	return nil
}

// openKeys opens the keyring of encryption at rest. It creates a fresh one
// only when the data directory holds nothing encrypted: a server whose
// streams were encrypted must find the keys that read them (a missing
// keyring or a wrong passphrase refuses to start, with the reason).
func openKeys(cfg *Config) (*kms.Local, error) {
	need, err := engine.NeedsKeys(nil, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	keys, err := kms.Open(cfg.KMSKeys, kms.Options{
		Passphrase: cfg.KMSPassphrase, Region: cfg.Region, Account: cfg.Account, Create: !need,
	})
	if err != nil {
		return nil, fmt.Errorf("--kms-keys: %w", err)
	}
	return keys, nil
}

// Engine is the server's engine.
func (s *Server) Engine() *engine.Engine { return s.eng }

// WireAddr is the address the binary protocol is bound to.
func (s *Server) WireAddr() net.Addr { return s.wireLn.Addr() }

// HTTPAddr is the address the Kinesis API is bound to.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// Shutdown stops accepting connections, lets in-flight requests finish (until
// ctx is done), then closes the engine: every shard's queue is drained and
// synced and its clean-shutdown marker written.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	if s.node != nil {
		// Hand every leadership this node holds to another replica
		// while both doors still serve: puts go on through the new
		// leaders, and no shard waits out an election timeout for this
		// node to be found gone.
		dctx, cancel := context.WithTimeout(ctx, drainTimeout)
		start := time.Now()
		if err := s.node.Drain(dctx); err != nil {
			s.log.Warn("stopping with leaderships not handed off; their shards elect new leaders", "err", err)
		} else {
			s.log.Info("handed off every leadership", "took", time.Since(start).Round(time.Millisecond))
		}
		cancel()
	}
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http: %w", err))
		s.http.Close()
	}
	if err := s.wire.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("wire: %w", err))
		s.wire.Close()
	}
	s.console.Close()
	if s.node != nil {
		if err := s.node.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: %w", err))
		}
	}
	if err := s.eng.Close(); err != nil {
		errs = append(errs, fmt.Errorf("engine: %w", err))
	}
	if err := s.audit.Close(); err != nil {
		errs = append(errs, fmt.Errorf("audit log: %w", err))
	}
	return errors.Join(errs...)
}

// drainTimeout bounds how long Shutdown waits for a cluster node's
// leaderships to move.
const drainTimeout = 10 * time.Second

// Reload re-reads the files the server was started with: the TLS
// certificate, key and client CA, and the users file. Each part is checked
// before it replaces the one in force; a part that fails is refused with
// the reason and the old one stays (the others still take effect). New
// connections get the new certificate; open ones keep theirs.
func (s *Server) Reload() error {
	var errs []error
	if s.tls != nil {
		if err := s.tls.load(); err != nil {
			errs = append(errs, fmt.Errorf("TLS: %w (the previous certificate stays in force)", err))
		} else {
			leaf := s.tls.certificate()
			s.log.Info("reloaded the TLS certificate", "cert_subject", leaf.Subject.String(), "cert_expires", leaf.NotAfter.UTC(),
				"client_ca", s.cfg.TLSClientCA)
		}
	}
	if s.auth != nil {
		if err := s.auth.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("--auth: %w (the previous users stay in force)", err))
		} else {
			s.log.Info("reloaded the users file", "auth", s.cfg.AuthFile, "users", len(s.auth.Users().List()))
		}
	}
	return errors.Join(errs...)
}
