package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/sluicedb/sluice/cluster/node"
)

// clusterCommands is `sluice cluster`'s command table.
var clusterCommands = []*command{
	{name: "status", synopsis: "[--http ADDR] [--json]", summary: "show the nodes, and each shard's leader, replicas and followers' lag", run: clusterStatus},
}

func clusterMain(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		clusterUsage(a.stderr)
		return usagef("cluster", "missing subcommand; the subcommands are %s", commandNames(clusterCommands))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		clusterUsage(a.stdout)
		return errHelpShown
	}
	cmd := lookup(clusterCommands, args[0])
	if cmd == nil {
		return usagef("cluster", "unknown subcommand %q; the subcommands are %s", args[0], commandNames(clusterCommands))
	}
	return cmd.run(ctx, a, args[1:])
}

func clusterUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: sluice cluster SUBCOMMAND [ARGS]\n\nsubcommands:\n")
	for _, c := range clusterCommands {
		fmt.Fprintf(w, "  %-8s %-24s %s\n", c.name, c.synopsis, c.summary)
	}
}

// clusterView is the status of every node that answered, merged.
type clusterView struct {
	Nodes  []clusterNode  `json:"nodes"`
	Shards []clusterShard `json:"shards"`
	// Unreachable lists the nodes whose status could not be read.
	Unreachable []uint64 `json:"unreachable,omitempty"`
}

type clusterNode struct {
	node.NodeInfo
	Up      bool `json:"up"`
	Leaders int  `json:"leaders"`
}

type clusterShard struct {
	Stream   string            `json:"stream"`
	Shard    string            `json:"shard"`
	Group    uint64            `json:"group"`
	Leader   uint64            `json:"leader"`
	Term     uint64            `json:"term"`
	Replicas []uint64          `json:"replicas"`
	Lag      map[uint64]uint64 `json:"lag,omitempty"`
}

func clusterStatus(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("cluster status", "[--http ADDR] [--json]",
		"Shows the cluster as its nodes see it: each node's addresses, zone, whether it is up and how many shard\n"+
			"leaderships it holds, and each shard's leader, replicas and followers' lag (entries behind the leader).\n"+
			"It asks the node at --http, then every node that one knows of.")
	httpAddr := f.String("http", "127.0.0.1:4567", "the HTTP address (--http) of any node")
	token := f.String("token", os.Getenv("SLUICE_METRICS_TOKEN"), "bearer token of nodes started with --metrics-token")
	asJSON := f.Bool("json", false, "print one JSON object")
	if _, err := f.parse(args, 0, 0, ""); err != nil {
		return err
	}
	first, err := fetchStatus(ctx, *httpAddr, *token)
	if err != nil {
		return err
	}
	view := clusterView{}
	statuses := map[uint64]*node.Status{first.Node: first}
	for _, n := range first.Nodes {
		if _, ok := statuses[n.ID]; ok || n.HTTP == "" {
			continue
		}
		s, err := fetchStatus(ctx, n.HTTP, *token)
		if err != nil {
			view.Unreachable = append(view.Unreachable, n.ID)
			continue
		}
		statuses[n.ID] = s
	}
	// Each node's own view of a shard is freshest where it leads it.
	shards := map[uint64]*clusterShard{}
	for _, s := range statuses {
		for _, sh := range s.Shards {
			cur, ok := shards[sh.Group]
			if ok && !(sh.Leader == s.Node && sh.Term >= cur.Term) {
				continue
			}
			shards[sh.Group] = &clusterShard{Stream: sh.Stream, Shard: sh.Shard, Group: sh.Group, Leader: sh.Leader,
				Term: sh.Term, Replicas: sh.Replicas, Lag: sh.Lag}
		}
	}
	leaders := map[uint64]int{}
	for _, sh := range shards {
		view.Shards = append(view.Shards, *sh)
		if sh.Leader != 0 {
			leaders[sh.Leader]++
		}
	}
	sort.Slice(view.Shards, func(i, j int) bool {
		if view.Shards[i].Stream != view.Shards[j].Stream {
			return view.Shards[i].Stream < view.Shards[j].Stream
		}
		return view.Shards[i].Shard < view.Shards[j].Shard
	})
	for _, n := range first.Nodes {
		_, answered := statuses[n.ID]
		view.Nodes = append(view.Nodes, clusterNode{NodeInfo: n.NodeInfo, Up: n.Up || answered, Leaders: leaders[n.ID]})
	}
	if *asJSON {
		return writeJSON(a.stdout, view)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRAFT\tLISTEN\tHTTP\tZONE\tSTATE\tLEADERS")
	for _, n := range view.Nodes {
		state := "up"
		switch {
		case !n.Up:
			state = "down"
		case n.Draining:
			state = "draining"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\n", n.ID, n.Raft, dash(n.Listen), dash(n.HTTP), dash(n.Zone), state, n.Leaders)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "STREAM\tSHARD\tLEADER\tREPLICAS\tLAG")
	for _, sh := range view.Shards {
		leader := "none"
		if sh.Leader != 0 {
			leader = fmt.Sprint(sh.Leader)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sh.Stream, sh.Shard, leader, joinIDs(sh.Replicas), lagText(sh.Lag))
	}
	return tw.Flush()
}

func joinIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

func lagText(lag map[uint64]uint64) string {
	if len(lag) == 0 {
		return "-"
	}
	ids := make([]uint64, 0, len(lag))
	for id := range lag {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprintf("%d:%d", id, lag[id])
	}
	return strings.Join(s, " ")
}

// fetchStatus reads GET /cluster/status of the node at addr.
func fetchStatus(ctx context.Context, addr, token string) (*node.Status, error) {
	url := addr
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/cluster/status", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cluster status of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("cluster status of %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cluster status of %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	var s node.Status
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("cluster status of %s: %w", addr, err)
	}
	return &s, nil
}
