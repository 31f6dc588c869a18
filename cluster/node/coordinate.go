package node

import "github.com/sluicedb/sluice/cluster"

// Coordinates implements engine.Coordinator: the node leading the
// controller group drives the cluster's background decisions (abandoning a
// reshard left half done, ON_DEMAND scaling); the others only apply them.
func (n *Node) Coordinates() bool {
	st, err := n.host.Status(cluster.ControllerGroup)
	return err == nil && st.Leader == n.cfg.NodeID
}
