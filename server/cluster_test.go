package server

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestParsePeers(t *testing.T) {
	p, err := parsePeers("1=127.0.0.1:7001, 2=127.0.0.1:7002,3=h:7003")
	if err != nil || len(p) != 3 || p[2] != "127.0.0.1:7002" || p[3] != "h:7003" {
		t.Fatalf("parsePeers: %v, %v", p, err)
	}
	for _, bad := range []string{"", "1", "x=127.0.0.1:1", "0=127.0.0.1:1", "1=", "1=a:1,1=b:2"} {
		if _, err := parsePeers(bad); err == nil {
			t.Errorf("parsePeers(%q) accepted", bad)
		}
	}
}

// The Raft transport off loopback needs mutual TLS or --insecure.
func TestTransportTLS_RefusesPlainTCPOffLoopback(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	peers := map[uint64]string{1: "127.0.0.1:7001", 2: "10.1.2.3:7001"}
	_, err := transportTLS(Config{Logger: log}, peers)
	if err == nil || !strings.Contains(err.Error(), "--tls-client-ca") {
		t.Fatalf("plain TCP to 10.1.2.3: %v; want a refusal naming the TLS flags", err)
	}
	if c, err := transportTLS(Config{Logger: log, Insecure: true}, peers); err != nil || c != nil {
		t.Fatalf("--insecure: %v, %v", c, err)
	}
	if c, err := transportTLS(Config{Logger: log}, map[uint64]string{1: "127.0.0.1:7001", 2: "localhost:7002"}); err != nil || c != nil {
		t.Fatalf("loopback: %v, %v", c, err)
	}
}
