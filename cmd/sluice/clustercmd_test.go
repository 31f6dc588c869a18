package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/cluster/node"
)

// sluice cluster status asks the node it is pointed at, then every node
// that one knows of, and shows each shard as its leader sees it; a node
// that does not answer is listed as unreachable.
func TestClusterStatus_MergesTheNodesViews(t *testing.T) {
	var srv1, srv2 *httptest.Server
	shard := func(leader, term uint64, lag map[uint64]uint64) node.ShardStatus {
		return node.ShardStatus{Stream: "s", Shard: "shardId-000000000000",
			GroupStatus: node.GroupStatus{Group: 7, Leader: leader, Term: term, Replicas: []uint64{2, 1, 3}, Lag: lag}}
	}
	serve := func(st func() node.Status) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/cluster/status" {
				http.NotFound(w, r)
				return
			}
			json.NewEncoder(w).Encode(st())
		}))
	}
	nodes := func() []node.NodeStatus {
		return []node.NodeStatus{
			{NodeInfo: node.NodeInfo{ID: 1, Raft: "r1", HTTP: strings.TrimPrefix(srv1.URL, "http://"), Zone: "a"}, Up: true},
			{NodeInfo: node.NodeInfo{ID: 2, Raft: "r2", HTTP: strings.TrimPrefix(srv2.URL, "http://"), Zone: "b"}, Up: true},
			{NodeInfo: node.NodeInfo{ID: 3, Raft: "r3", HTTP: "127.0.0.1:1", Zone: "c"}},
		}
	}
	// Node 1 follows; node 2 leads the shard and knows the lags.
	srv1 = serve(func() node.Status { return node.Status{Node: 1, Nodes: nodes(), Shards: []node.ShardStatus{shard(2, 4, nil)}} })
	defer srv1.Close()
	srv2 = serve(func() node.Status {
		return node.Status{Node: 2, Nodes: nodes(), Shards: []node.ShardStatus{shard(2, 4, map[uint64]uint64{1: 0, 3: 17})}}
	})
	defer srv2.Close()

	code, out, errOut := runCLI(t, "", "cluster", "status", "--http", srv1.URL, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v clusterView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Shards) != 1 || v.Shards[0].Leader != 2 || v.Shards[0].Lag[3] != 17 {
		t.Fatalf("shards %+v; want node 2's view, with node 3 17 entries behind", v.Shards)
	}
	if len(v.Unreachable) != 1 || v.Unreachable[0] != 3 || v.Nodes[1].Leaders != 1 || v.Nodes[2].Up {
		t.Fatalf("nodes %+v, unreachable %v", v.Nodes, v.Unreachable)
	}
	code, out, _ = runCLI(t, "", "cluster", "status", "--http", srv1.URL)
	if code != 0 || !strings.Contains(out, "3:17") || !strings.Contains(out, "down") {
		t.Fatalf("table:\n%s", out)
	}
}
