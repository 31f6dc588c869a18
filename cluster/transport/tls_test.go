package transport

import (
	"crypto/tls"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/internal/testcert"
)

// nodeTLS is the TLS configuration of a node whose certificates come from
// ca: one certificate to serve with, one to present when dialing.
func nodeTLS(ca *testcert.CA, name string) *tls.Config {
	srv, cli := ca.Server(name), ca.Client(name)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      ca.Pool(),
		Certificates: []tls.Certificate{srv.Cert},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cli.Cert, nil
		},
	}
}

// TestTransport_TLS runs two nodes over mutual TLS with a CA made for the
// test, and checks that a node with another CA's certificates and a node
// without TLS are both refused.
func TestTransport_TLS(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-cluster")
	other := testcert.NewCA(t, "elsewhere")
	ln1, ln2, ln3, ln4 := listen(t), listen(t), listen(t), listen(t)
	peers := map[uint64]string{1: ln1.Addr().String(), 2: ln2.Addr().String()}
	n1 := startNode(t, 1, ln1, peers, func(c *Config) { c.TLS = nodeTLS(ca, "node1") })
	n2 := startNode(t, 2, ln2, peers, func(c *Config) { c.TLS = nodeTLS(ca, "node2") })

	data := payload(1, 2, 3, 100<<10)
	n1.tr.Send(env(2, raftpb.MsgApp, 1, 2, 3, data))
	n2.rec.waitFor(t, "the append over TLS", func() bool { return n2.rec.count(1) == 1 })
	if m := n2.rec.msgs(1)[0]; len(m.Msg.GetEntries()) != 1 || string(m.Msg.GetEntries()[0].GetData()) != string(data) {
		t.Fatal("the append arrived damaged")
	}
	sendUntilReceived(t, n2, n1, 0)

	// A node whose certificate another CA signed.
	stranger := startNode(t, 3, ln3, map[uint64]string{1: n1.addr}, func(c *Config) { c.TLS = nodeTLS(other, "node3") })
	stranger.tr.Send(env(1, raftpb.MsgHeartbeat, 3, 1, 0, nil))
	stranger.rec.waitFor(t, "node 1 reported unreachable", func() bool { return stranger.rec.unreachableCount(1) > 0 })
	stranger.log.waitFor(t, "cannot send to peer", "TLS handshake with node 1", "certificate")

	// A node without TLS.
	plain := startNode(t, 4, ln4, map[uint64]string{1: n1.addr}, nil)
	plain.tr.Send(env(1, raftpb.MsgHeartbeat, 4, 1, 0, nil))
	plain.rec.waitFor(t, "node 1 reported unreachable", func() bool { return plain.rec.unreachableCount(1) > 0 })

	pollUntil(t, "node 1 to count both refusals", func() bool { return n1.tr.Stats().Refused >= 2 })
	n1.log.waitFor(t, "refused a peer connection", "TLS")
	if n1.rec.count(3) != 0 || n1.rec.count(4) != 0 {
		t.Fatal("node 1 delivered messages from a node it should have refused")
	}
}
