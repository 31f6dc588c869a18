package engine_test

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/sluicedb/sluice/cluster/node"
	"github.com/sluicedb/sluice/engine"
)

// The engine's tests in cluster mode (cluster_mode_test.go) run on nodes of
// package cluster/node, which imports package engine: this file, outside
// the package, hands them the nodes.
func init() {
	engine.NewTestNode = func(id uint64, peers map[uint64]string, dir string) (engine.TestNode, error) {
		nd, err := node.Open(node.Config{NodeID: id, Peers: peers, DataDir: dir,
			TickInterval: 25 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return nil, err
		}
		return testNode{nd}, nil
	}
}

// testNode is a cluster node as the engine's tests use it.
type testNode struct{ *node.Node }

func (n testNode) Start(e *engine.Engine) error { return n.Node.Start(e, node.NodeInfo{}) }

func (n testNode) Ready(ctx context.Context) error {
	_, err := n.IteratorKey(ctx)
	return err
}
