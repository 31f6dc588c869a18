// Command sluiced is the sluice server: a durable, Kinesis-compatible stream
// store. It serves the binary protocol on --listen and the Kinesis HTTP API,
// /metrics and /healthz on --http, storing everything under --data-dir.
//
//	sluiced --data-dir ./data --listen 127.0.0.1:4568 --http 127.0.0.1:4567
//
// With --tls-cert and --tls-key both doors serve TLS (--tls-client-ca adds
// mutual TLS); with --auth FILE every request must be authenticated. Without
// --auth the server binds only to loopback addresses unless --insecure.
//
// The master keys of encryption at rest (StartStreamEncryption, sluice kms)
// live in a keyring at --kms-keys (default DATA_DIR/kms), sealed with the
// passphrase in $SLUICE_KMS_PASSPHRASE when it is set. A server whose data
// holds encrypted streams refuses to start without its keyring or with a
// wrong passphrase.
//
// With --node-id and --peers (every node's Raft address, the same list on
// every node) the server is one node of a cluster: each shard is a Raft
// group replicated to the nodes and a put is acknowledged once a quorum has
// it on disk (docs/cluster.md).
//
// SIGHUP re-reads the TLS certificate, key and client CA and the users file;
// a file that fails to load is refused (logged) and the old one stays in
// force. SIGTERM or SIGINT shut it down cleanly: it stops accepting,
// finishes the requests in flight, syncs every shard and writes
// clean-shutdown markers so that the next start needs no recovery scan.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/server"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sluiced:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	logger := cfg.Logger
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Subscribe to SIGHUP before the server starts, so that a reload sent
	// as soon as it serves is not the default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	srv, err := server.Start(cfg)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		select {
		case <-hup:
			logger.Info("SIGHUP: reloading the TLS certificate and the users file")
			if err := srv.Reload(); err != nil {
				logger.Error("reload failed; serving on with what was in force", "err", err)
			} else {
				logger.Info("reload done")
			}
		case <-ctx.Done():
		}
	}
	stop()
	logger.Info("shutting down: draining connections and syncing shards")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped cleanly")
	return nil
}

// parseConfig builds the server's configuration from the command line and
// the --config file: flags given on the command line win over the file, and
// the flags' defaults fill what the file leaves unset.
func parseConfig(args []string, stderr io.Writer) (server.Config, error) {
	fs := flag.NewFlagSet("sluiced", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile   = fs.String("config", "", "read settings from this JSON file (keys as the flags, with _ for -); flags given on the command line win")
		dataDir      = fs.String("data-dir", "./data", "directory holding the catalog and every shard's segments")
		listen       = fs.String("listen", "127.0.0.1:4568", "binary protocol address (port 0 picks a free port)")
		httpAddr     = fs.String("http", "127.0.0.1:4567", "Kinesis HTTP API, /metrics and /healthz address (port 0 picks a free port)")
		fsync        = fs.String("fsync", "always", "when puts are acknowledged: always (after fdatasync), interval, none")
		syncInterval = fs.Duration("sync-interval", 50*time.Millisecond, "how often --fsync interval syncs")
		commitLog    = fs.Bool("commit-log", true, "make --fsync always batches of every shard durable together through one node-wide commit log (false: each shard syncs its own segment)")
		quotas       = fs.String("quotas", "kinesis", "default quota of new streams: kinesis (per-shard Kinesis limits) or unlimited")
		segmentSize  = fs.Int64("segment-size", 128<<20, "bytes at which a shard's segment file is sealed")
		maxConns     = fs.Int("max-conns", 10000, "most binary-protocol connections at once")
		maxInflight  = fs.Int("max-inflight-bytes", 64<<20, "most unanswered request plus unwritten response bytes per binary connection")
		idle         = fs.Duration("idle-timeout", 5*time.Minute, "close connections idle this long")
		maxTotal     = fs.Int64("max-inflight-total", 1<<30, "server-wide bytes of requests in flight on both doors; readers wait while they are spent (negative: no limit)")
		maxHTTPConns = fs.Int("max-http-conns", 10000, "most HTTP connections at once; more wait in the listen backlog")
		h2Streams    = fs.Int("http2-max-streams", 100, "most concurrent requests on one HTTP/2 connection")
		headerTO     = fs.Duration("header-timeout", 10*time.Second, "close an HTTP connection whose request headers take longer than this")
		bodyTO       = fs.Duration("body-timeout", 30*time.Second, "close an HTTP connection whose request body takes longer than this after its headers")
		frameTO      = fs.Duration("frame-timeout", 30*time.Second, "close a binary-protocol connection whose frame takes longer than this after its header")
		writeTO      = fs.Duration("write-timeout", time.Minute, "drop a client that takes longer than this to read a response or pushed event")
		maxStreams   = fs.Int("max-streams", 1000, "most streams the server holds")
		maxShards    = fs.Int("max-shards", 10000, "most shards the server holds, over all streams (each open one costs a file and a mapping)")
		recoverCat   = fs.Bool("recover-catalog", false, "rebuild a missing or damaged catalog from the stream directories instead of refusing to start")
		asWindow     = fs.Duration("autoscale-window", engine.DefaultAutoscaleWindow, "ON_DEMAND streams: split a shard whose write rate stays at or above --autoscale-split-threshold this long")
		asMerge      = fs.Duration("autoscale-merge-window", engine.DefaultAutoscaleMergeWindow, "ON_DEMAND streams: merge two adjacent shards that both stay below --autoscale-merge-threshold this long")
		asSplit      = fs.Float64("autoscale-split-threshold", engine.DefaultAutoscaleSplitThreshold, "ON_DEMAND streams: write rate, as a fraction of a shard's write quota (1 MiB/s or 1,000 records/s in Kinesis), at which a shard is hot")
		asMergeThr   = fs.Float64("autoscale-merge-threshold", engine.DefaultAutoscaleMergeThreshold, "ON_DEMAND streams: fraction of a shard's write quota below which a shard is cold (below half the split threshold)")
		asMidpoint   = fs.Bool("autoscale-midpoint", false, "ON_DEMAND streams: split hot shards at the middle of their hash key range, as Kinesis does, instead of at the key that halves their traffic")
		rmOrphans    = fs.Bool("remove-orphans", false, "delete stream directories the catalog does not name (by default they are kept and logged)")
		region       = fs.String("region", "us-east-1", "region shown in stream ARNs")
		account      = fs.String("account", "000000000000", "account id shown in stream ARNs (with --auth, default the users file's)")
		tlsCert      = fs.String("tls-cert", "", "PEM certificate chain: both doors serve TLS only (needs --tls-key; re-read on SIGHUP)")
		tlsKey       = fs.String("tls-key", "", "PEM private key of --tls-cert")
		tlsClientCA  = fs.String("tls-client-ca", "", "PEM CA certificate(s): clients of both doors must present a certificate it signed (mutual TLS)")
		authFile     = fs.String("auth", "", "users file (identities and policies): every request must be authenticated (re-read on SIGHUP)")
		corsOrigins  = fs.String("cors-origins", "", "comma-separated web origins whose pages may call the Kinesis API from a browser, or * for any (default: any without --auth, none with it)")
		auditLog     = fs.String("audit-log", "", "append one JSON line per mutating or denied request to this file")
		insecure     = fs.Bool("insecure", false, "allow a non-loopback --listen or --http without --auth (anyone who connects may read, write and delete)")
		kmsKeys      = fs.String("kms-keys", "", "directory of the keyring of encryption at rest (default DATA_DIR/kms; sealed with $SLUICE_KMS_PASSPHRASE when set)")
		metricsToken = fs.String("metrics-token", "", "bearer token /metrics requires ($SLUICE_METRICS_TOKEN when not given)")
		nodeID       = fs.Uint64("node-id", 0, "this node's id in a cluster (with --peers)")
		peers        = fs.String("peers", "", "every node of a cluster as ID=HOST:PORT of its Raft transport, comma-separated (the same on every node); without it sluiced runs as a single node")
		raftListen   = fs.String("raft-listen", "", "address of this node's Raft transport (default its address in --peers)")
		replication  = fs.Int("replication-factor", 3, "replicas of each shard in a cluster (at most the number of nodes)")
		zone         = fs.String("zone", "", "this node's availability zone, shown by sluice cluster status")
		election     = fs.Duration("election-timeout", time.Second, "how long a cluster's followers wait for their leader before electing another")
		logFormat    = fs.String("log-format", "text", "log format: text or json")
		logLevel     = fs.String("log-level", "info", "log level: debug, info, warn, error")
	)
	if err := fs.Parse(args); err != nil {
		return server.Config{}, err
	}
	if fs.NArg() > 0 {
		return server.Config{}, fmt.Errorf("unexpected argument %q; sluiced takes only flags (see -h)", fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return server.Config{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	case "json":
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	default:
		return server.Config{}, fmt.Errorf("--log-format %q: want text or json", *logFormat)
	}
	logger := slog.New(handler)

	cfg := server.Config{}
	if *configFile != "" {
		b, err := os.ReadFile(*configFile)
		if err != nil {
			return server.Config{}, fmt.Errorf("--config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return server.Config{}, fmt.Errorf("--config %s: %w", *configFile, err)
		}
	}
	// Flags set on the command line override the file; defaults fill the rest.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	override(set, "data-dir", &cfg.DataDir, *dataDir)
	override(set, "listen", &cfg.Listen, *listen)
	override(set, "http", &cfg.HTTP, *httpAddr)
	override(set, "fsync", &cfg.Fsync, *fsync)
	override(set, "sync-interval", &cfg.SyncInterval, server.Duration(*syncInterval))
	override(set, "commit-log", &cfg.NoCommitLog, !*commitLog)
	override(set, "quotas", &cfg.Quotas, *quotas)
	override(set, "node-id", &cfg.NodeID, *nodeID)
	override(set, "peers", &cfg.Peers, *peers)
	override(set, "raft-listen", &cfg.RaftListen, *raftListen)
	override(set, "replication-factor", &cfg.ReplicationFactor, *replication)
	override(set, "zone", &cfg.Zone, *zone)
	override(set, "election-timeout", &cfg.ElectionTimeout, server.Duration(*election))
	override(set, "segment-size", &cfg.SegmentSize, *segmentSize)
	override(set, "max-conns", &cfg.MaxConns, *maxConns)
	override(set, "max-inflight-bytes", &cfg.MaxInFlightBytes, *maxInflight)
	override(set, "idle-timeout", &cfg.IdleTimeout, server.Duration(*idle))
	override(set, "max-inflight-total", &cfg.MaxInFlightTotal, *maxTotal)
	override(set, "max-http-conns", &cfg.MaxHTTPConns, *maxHTTPConns)
	override(set, "http2-max-streams", &cfg.HTTP2MaxStreams, *h2Streams)
	override(set, "header-timeout", &cfg.HeaderTimeout, server.Duration(*headerTO))
	override(set, "body-timeout", &cfg.BodyTimeout, server.Duration(*bodyTO))
	override(set, "frame-timeout", &cfg.FrameTimeout, server.Duration(*frameTO))
	override(set, "write-timeout", &cfg.WriteTimeout, server.Duration(*writeTO))
	override(set, "max-streams", &cfg.MaxStreams, *maxStreams)
	override(set, "max-shards", &cfg.MaxShards, *maxShards)
	override(set, "recover-catalog", &cfg.RecoverCatalog, *recoverCat)
	override(set, "remove-orphans", &cfg.RemoveOrphans, *rmOrphans)
	override(set, "autoscale-window", &cfg.AutoscaleWindow, server.Duration(*asWindow))
	override(set, "autoscale-merge-window", &cfg.AutoscaleMergeWindow, server.Duration(*asMerge))
	override(set, "autoscale-split-threshold", &cfg.AutoscaleSplitThreshold, *asSplit)
	override(set, "autoscale-merge-threshold", &cfg.AutoscaleMergeThreshold, *asMergeThr)
	override(set, "autoscale-midpoint", &cfg.AutoscaleMidpoint, *asMidpoint)
	override(set, "region", &cfg.Region, *region)
	override(set, "account", &cfg.Account, *account)
	override(set, "tls-cert", &cfg.TLSCert, *tlsCert)
	override(set, "tls-key", &cfg.TLSKey, *tlsKey)
	override(set, "tls-client-ca", &cfg.TLSClientCA, *tlsClientCA)
	override(set, "auth", &cfg.AuthFile, *authFile)
	override(set, "audit-log", &cfg.AuditLog, *auditLog)
	override(set, "cors-origins", &cfg.CORSOrigins, *corsOrigins)
	override(set, "insecure", &cfg.Insecure, *insecure)
	if env := os.Getenv("SLUICE_METRICS_TOKEN"); !set["metrics-token"] && cfg.MetricsToken == "" && env != "" {
		*metricsToken = env
	}
	override(set, "metrics-token", &cfg.MetricsToken, *metricsToken)
	override(set, "kms-keys", &cfg.KMSKeys, *kmsKeys)
	cfg.KMSPassphrase = os.Getenv(kms.PassphraseEnv)
	cfg.Logger = logger
	return cfg, nil
}

// override sets *field to the flag's value when the flag was given on the
// command line or the config file left the field unset.
func override[T comparable](set map[string]bool, name string, field *T, value T) {
	var zero T
	if set[name] || *field == zero {
		*field = value
	}
}
