package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedb/sluice/cluster/node"
	"github.com/sluicedb/sluice/wire"
	"github.com/sluicedb/sluice/wire/wireserver"
)

// parsePeers reads --peers: ID=HOST:PORT, comma-separated.
func parsePeers(list string) (map[uint64]string, error) {
	peers := map[uint64]string{}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		id, addr, ok := strings.Cut(p, "=")
		n, err := strconv.ParseUint(id, 10, 64)
		if !ok || err != nil || n == 0 || addr == "" {
			return nil, fmt.Errorf("--peers entry %q: want ID=HOST:PORT with an ID of 1 or more", p)
		}
		if _, dup := peers[n]; dup {
			return nil, fmt.Errorf("--peers names node %d twice", n)
		}
		peers[n] = addr
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("--peers %q names no node", list)
	}
	return peers, nil
}

// openNode opens the cluster node of a server started with --peers, or
// returns nil.
func openNode(cfg Config) (*node.Node, error) {
	if cfg.Peers == "" {
		if cfg.NodeID != 0 {
			return nil, fmt.Errorf("--node-id without --peers: name every node of the cluster in --peers")
		}
		return nil, nil
	}
	peers, err := parsePeers(cfg.Peers)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := transportTLS(cfg, peers)
	if err != nil {
		return nil, err
	}
	return node.Open(node.Config{
		NodeID: cfg.NodeID, Peers: peers, RaftListen: cfg.RaftListen, DataDir: cfg.DataDir,
		ReplicationFactor: cfg.ReplicationFactor, Zone: cfg.Zone, TLS: tlsCfg,
		ElectionTimeout: time.Duration(cfg.ElectionTimeout), Logger: cfg.Logger,
	})
}

// clusterKey waits for the cluster's iterator key, logging while it waits.
func clusterKey(nd *node.Node, s *Server) ([]byte, error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		key, err := nd.IteratorKey(ctx)
		cancel()
		if err == nil {
			return key, nil
		}
		s.log.Warn("waiting for the cluster to agree on its iterator key: a quorum of nodes must be up", "err", err)
	}
}

// clusterStatus serves GET /cluster/status: the nodes and the shard groups
// as this node sees them (sluice cluster status).
func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) {
	if s.node == nil {
		http.Error(w, "this server is a single node, not part of a cluster (started without --peers)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(s.node.Status())
}

// clusterMetrics exports a node's Raft counters on /metrics.
type clusterMetrics struct {
	nd *node.Node

	elections, leaderChanges, proposals, snapshots *prometheus.Desc
	messages, saves, groups, quiesced, leading     *prometheus.Desc
	maxLag, commitLatency                          *prometheus.Desc
	shipTransfers, shipBytes                       *prometheus.Desc
}

func newClusterMetrics(nd *node.Node) *clusterMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sluice_cluster_"+name, help, labels, nil)
	}
	return &clusterMetrics{nd: nd,
		elections:     d("elections_total", "Elections this node started (it became a candidate)."),
		leaderChanges: d("leader_changes_total", "Times a group on this node learned of a new leader."),
		proposals:     d("proposals_total", "Proposals made on this node, by outcome: ok, dropped (certainly not committed), not_leader, unknown; and bounced: proposals other nodes forwarded here that Raft dropped (their proposers retry them).", "outcome"),
		snapshots:     d("snapshots_total", "Raft snapshots: taken (log compaction), sent to followers, received from a leader.", "kind"),
		messages:      d("messages_total", "Raft messages, by direction.", "direction"),
		saves:         d("raft_log_saves_total", "Writes of the node's Raft log, each one fdatasync for every group ready at that moment."),
		groups:        d("groups", "Raft groups running on this node (the controller and every shard replica)."),
		quiesced:      d("groups_quiesced", "Groups with no traffic that neither tick nor heartbeat."),
		leading:       d("groups_leading", "Groups this node leads."),
		maxLag:        d("follower_lag_max_entries", "The largest lag, in entries, of a follower of a group this node leads."),
		commitLatency: d("commit_latency_seconds", "From a proposal on this node to its entry applied here."),
		shipTransfers: d("snapshot_transfers_total", "Transfers of a shard's segments for a snapshot: received (a replica here refilled), failed (a node tried and given up on), served (to another node).", "outcome"),
		shipBytes:     d("snapshot_transfer_bytes_total", "Bytes of segment frames received by transfers that refilled a replica here."),
	}
}

func (c *clusterMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.elections, c.leaderChanges, c.proposals, c.snapshots, c.messages, c.saves,
		c.groups, c.quiesced, c.leading, c.maxLag, c.commitLatency, c.shipTransfers, c.shipBytes} {
		ch <- d
	}
}

func (c *clusterMetrics) Collect(ch chan<- prometheus.Metric) {
	m := c.nd.Metrics()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.elections, m.Elections)
	counter(c.leaderChanges, m.LeaderChanges)
	counter(c.proposals, m.ProposalsOK, "ok")
	counter(c.proposals, m.ProposalsDropped, "dropped")
	counter(c.proposals, m.ProposalsNotLeader, "not_leader")
	counter(c.proposals, m.ProposalsUnknown, "unknown")
	counter(c.proposals, m.ProposalsBounced, "bounced")
	counter(c.snapshots, m.SnapshotsTaken, "taken")
	counter(c.snapshots, m.SnapshotsSent, "sent")
	counter(c.snapshots, m.SnapshotsReceived, "received")
	counter(c.messages, m.MessagesOut, "out")
	counter(c.messages, m.MessagesIn, "in")
	counter(c.saves, m.Saves)
	counter(c.shipTransfers, m.ShipTransfers, "received")
	counter(c.shipTransfers, m.ShipFailures, "failed")
	counter(c.shipTransfers, m.ShipServed, "served")
	counter(c.shipBytes, m.ShipBytes)
	gauge(c.groups, float64(m.Groups))
	gauge(c.quiesced, float64(m.GroupsQuiesced))
	gauge(c.leading, float64(m.Leading))
	gauge(c.maxLag, float64(m.MaxLag))
	h := m.CommitLatency
	q := map[float64]float64{}
	for _, p := range []float64{50, 90, 99, 99.9} {
		q[p/100] = float64(h.ValueAtQuantile(p)) / 1e6
	}
	ch <- prometheus.MustNewConstSummary(c.commitLatency, uint64(h.TotalCount()), h.Mean()*float64(h.TotalCount())/1e6, q)
}

// transportTLS secures the Raft transport with mutual TLS when the server
// has a certificate and a client CA (--tls-cert, --tls-key,
// --tls-client-ca): each node presents its certificate and accepts only
// peers whose certificate the CA signed. Without them the transport is
// plain TCP, which any process that reaches it could feed Raft messages:
// refused off loopback unless --insecure.
func transportTLS(cfg Config, peers map[uint64]string) (*tls.Config, error) {
	if cfg.TLSCert != "" && cfg.TLSKey != "" && cfg.TLSClientCA != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("the Raft transport's certificate (--tls-cert, --tls-key): %w", err)
		}
		pem, err := os.ReadFile(cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("the Raft transport's CA (--tls-client-ca): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca %s holds no PEM certificate", cfg.TLSClientCA)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
	}
	addrs := []string{cfg.RaftListen}
	for _, a := range peers {
		addrs = append(addrs, a)
	}
	for _, a := range addrs {
		if a == "" || loopback(a) {
			continue
		}
		if !cfg.Insecure {
			return nil, fmt.Errorf("the Raft transport between nodes (%s) would be plain TCP beyond this machine, and any process that reaches it "+
				"could feed the cluster Raft messages: give --tls-cert, --tls-key and --tls-client-ca (mutual TLS between nodes), "+
				"keep every node on loopback addresses, or pass --insecure", a)
		}
		cfg.Logger.Warn("the Raft transport between nodes runs without TLS on a non-loopback address (--insecure)", "addr", a)
		break
	}
	return nil, nil
}

// faultInjectionEnv enables POST /cluster/faults, for tests that partition
// real processes. Never set it on a server that matters.
const faultInjectionEnv = "SLUICE_FAULT_INJECTION"

// clusterFaults serves POST /cluster/faults {"block":[ids],"unblock":[ids]}:
// this node stops (or resumes) exchanging Raft messages with those nodes.
func (s *Server) clusterFaults(w http.ResponseWriter, r *http.Request) {
	if s.node == nil {
		http.Error(w, "this server is not part of a cluster", http.StatusNotFound)
		return
	}
	var req struct{ Block, Unblock []uint64 }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		http.Error(w, "want {\"block\":[node ids],\"unblock\":[node ids]}: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, id := range req.Block {
		s.node.Block(id, true)
	}
	for _, id := range req.Unblock {
		s.node.Block(id, false)
	}
	s.log.Warn("fault injection: Raft messages to and from nodes blocked or unblocked", "block", req.Block, "unblock", req.Unblock)
	w.WriteHeader(http.StatusNoContent)
}

// wireCluster is a node as the binary protocol's routing sees it (ShardMap,
// PutShard).
type wireCluster struct{ *node.Node }

// NodeAddrs lists the nodes with the binary protocol addresses they
// announced.
func (w wireCluster) NodeAddrs() []wire.NodeAddr {
	infos := w.Nodes()
	out := make([]wire.NodeAddr, len(infos))
	for i, n := range infos {
		out[i] = wire.NodeAddr{ID: n.ID, Addr: n.Listen}
	}
	return out
}

// wireClusterOf is nd for the binary protocol's server, nil on a single
// node.
func wireClusterOf(nd *node.Node) wireserver.Cluster {
	if nd == nil {
		return nil
	}
	return wireCluster{nd}
}
