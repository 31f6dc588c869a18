//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
)

// consumer is one `sluice consume` process and the JSON lines it printed.
type consumer struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	stderr bytes.Buffer

	mu    sync.Mutex // guards lines and broken
	lines []gotRecord
	// broken is a line that is not a record, with the number of lines
	// after it: a process killed mid-write may leave its last line short.
	broken      string
	linesBehind int
}

func startConsumer(t *testing.T, bin binaries, s *server, name string) *consumer {
	t.Helper()
	c := &consumer{name: name, exited: make(chan struct{})}
	c.cmd = exec.Command(bin.sluice, "--addr", s.wireAddr, "consume", "s", "--group", "g", "--member", name,
		"--failover", "3s", "-o", "json")
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r gotRecord
			c.mu.Lock()
			if c.broken != "" {
				c.linesBehind++
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Data == nil {
				if c.broken == "" {
					c.broken = sc.Text()
				}
			} else {
				r.seq, _ = api.ParseSeqNum(r.Sequence)
				c.lines = append(c.lines, r)
			}
			c.mu.Unlock()
		}
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
	})
	return c
}

func (c *consumer) printed() []gotRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gotRecord(nil), c.lines...)
}

// TestEndToEnd_ConsumerGroupKillMember runs three `sluice consume`
// members of one group over eight shards while records are put, kills one
// with SIGKILL, and checks that its shards are taken over from its
// checkpoints: every record is printed, each member prints a shard in
// order, only what the killed member printed after its last checkpoint is
// printed twice, the survivors stop cleanly on SIGTERM, and the group's
// checkpoints survive a kill -9 of the server.
func TestEndToEnd_ConsumerGroupKillMember(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	bin := build(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, bin, dataDir)
	mustSluice(t, bin, srv, nil, "stream", "create", "s", "--shards", "8")

	var (
		pmu  sync.Mutex
		sent = map[string]bool{}
	)
	put := func(from, n int) {
		var in bytes.Buffer
		var ids []string
		for i := from; i < from+n; i++ {
			id := fmt.Sprintf("rec-%06d", i)
			ids = append(ids, id)
			in.WriteString(id + "\n")
		}
		mustSluice(t, bin, srv, in.Bytes(), "put", "s")
		pmu.Lock()
		for _, id := range ids {
			sent[id] = true
		}
		pmu.Unlock()
	}
	put(0, 500)
	members := []*consumer{startConsumer(t, bin, srv, "m1"), startConsumer(t, bin, srv, "m2"), startConsumer(t, bin, srv, "m3")}
	// Put more while the members run, and kill m3 once it has printed some.
	next := 500
	deadline := time.Now().Add(60 * time.Second)
	for len(members[2].printed()) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("m3 printed nothing in 60 s\n%s", members[2].stderr.String())
		}
		put(next, 100)
		next += 100
	}
	if err := members[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-members[2].exited
	for range 10 {
		put(next, 100)
		next += 100
	}

	// Every record is printed by a survivor or by m3 before it died.
	all := func() map[string][]string {
		by := map[string][]string{}
		for _, m := range members {
			for _, r := range m.printed() {
				by[*r.Data] = append(by[*r.Data], m.name)
			}
		}
		return by
	}
	if !pollUntil(60*time.Second, func() bool {
		by := all()
		for id := range sent {
			if len(by[id]) == 0 {
				return false
			}
		}
		return true
	}) {
		by := all()
		missing := 0
		for id := range sent {
			if len(by[id]) == 0 {
				missing++
			}
		}
		t.Fatalf("%d of %d records never printed\nm1: %s\nm2: %s", missing, len(sent), members[0].stderr.String(), members[1].stderr.String())
	}
	for _, m := range members[:2] {
		if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-m.exited
		if m.err != nil {
			t.Errorf("%s exited with %v on SIGTERM\n%s", m.name, m.err, m.stderr.String())
		}
	}

	for i, m := range members {
		if m.broken != "" && (i != 2 || m.linesBehind > 0) {
			t.Errorf("%s printed %q, which is not a record as sluice get -o json prints it", m.name, m.broken)
		}
	}
	// Order per member and shard; duplicates only of m3's last records.
	for _, m := range members {
		last := map[string]api.SeqNum{}
		for _, r := range m.printed() {
			if p, ok := last[r.Shard]; ok && p.Seq >= r.seq.Seq {
				t.Errorf("%s printed %s of %s after %s", m.name, r.Sequence, r.Shard, p)
			}
			last[r.Shard] = r.seq
		}
	}
	dups := 0
	for id, who := range all() {
		if len(who) == 1 {
			continue
		}
		dups++
		if len(who) > 2 || !strings.Contains(strings.Join(who, ","), "m3") {
			t.Errorf("%s printed by %v: only the killed member's unacknowledged records may repeat, once", id, who)
		}
	}
	t.Logf("%d records, %d printed twice (m3 printed %d before SIGKILL)", len(sent), dups, len(members[2].printed()))

	// The checkpoints survive kill -9 of the server.
	before := mustSluice(t, bin, srv, nil, "group", "describe", "s", "g", "--json")
	srv.stop(t, syscall.SIGKILL)
	srv = startServer(t, bin, dataDir)
	after := mustSluice(t, bin, srv, nil, "group", "describe", "s", "g", "--json")
	if cps(t, before) != cps(t, after) {
		t.Fatalf("checkpoints before kill -9:\n%s\nafter:\n%s", cps(t, before), cps(t, after))
	}
	if out := mustSluice(t, bin, srv, nil, "group", "list", "s"); string(out) != "g\n" {
		t.Fatalf("group list: %q", out)
	}
}

// cps extracts the per-shard checkpoints of a `group describe --json`.
func cps(t *testing.T, b []byte) string {
	t.Helper()
	var info struct {
		Shards []struct {
			Shard      string
			Checkpoint struct {
				Seq      string
				SubSeq   uint64
				Whole    bool
				ShardEnd bool
			}
		}
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("describe --json: %v\n%s", err, b)
	}
	var s strings.Builder
	for _, sh := range info.Shards {
		fmt.Fprintf(&s, "%s %+v\n", sh.Shard, sh.Checkpoint)
	}
	return s.String()
}
