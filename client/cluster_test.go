package client

import "testing"

// The address a node announced is dialled as it is, except that the
// answering node's empty address is the one asked, and a node listening on
// every interface is reached at the host the map came from.
func TestCluster_NodeAddr(t *testing.T) {
	for _, tc := range []struct {
		addr, asked string
		self        bool
		want        string
	}{
		{"10.0.0.2:4568", "10.0.0.1:4568", false, "10.0.0.2:4568"},
		{"", "10.0.0.1:4568", true, "10.0.0.1:4568"},
		{"", "10.0.0.1:4568", false, ""},
		{"[::]:4578", "db1.example:4568", false, "db1.example:4578"},
		{"0.0.0.0:4578", "10.0.0.1:4568", false, "10.0.0.1:4578"},
		{":4578", "10.0.0.1:4568", false, "10.0.0.1:4578"},
		{"db2.example:4568", "10.0.0.1:4568", false, "db2.example:4568"},
	} {
		if got := nodeAddr(tc.addr, tc.asked, tc.self); got != tc.want {
			t.Errorf("nodeAddr(%q, %q, %v) = %q; want %q", tc.addr, tc.asked, tc.self, got, tc.want)
		}
	}
}
