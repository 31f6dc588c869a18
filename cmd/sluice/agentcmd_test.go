package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/testcert"
	"github.com/sluicedb/sluice/server"
)

var agentKillLong = flag.Bool("agent-kill-long", false, "run TestAgentCommand_KillNine with 10x the lines and kills")

// buildSluice compiles this command into a temporary directory (with
// -race when the test runs under the race detector).
func buildSluice(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sluicedb/sluice/cmd/sluice")
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "sluice")
}

// logWriter appends numbered lines ("a 000042\n") to one log per name and
// rotates them, by rename or by copy and truncate, each rotated generation
// under a new name (a.log.1, a.log.2, ...).
type logWriter struct {
	t    *testing.T
	dir  string
	next map[string]int // the next line number of each log
	gens int            // rotated generations made, for their names
}

func (w *logWriter) path(name string) string { return filepath.Join(w.dir, name+".log") }

func (w *logWriter) write(name string, lines int) {
	f, err := os.OpenFile(w.path(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	var b bytes.Buffer
	for range lines {
		fmt.Fprintf(&b, "%s %06d\n", name, w.next[name])
		w.next[name]++
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		w.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		w.t.Fatal(err)
	}
}

func (w *logWriter) rotate(name string, copyTruncate bool) {
	w.gens++
	to := fmt.Sprintf("%s.%d", w.path(name), w.gens)
	if !copyTruncate {
		if err := os.Rename(w.path(name), to); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(w.path(name))
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Truncate(w.path(name), 0); err != nil {
		w.t.Fatal(err)
	}
}

// agentProc is one `sluice agent` process.
type agentProc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

func startAgent(t *testing.T, bin string, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{cmd: exec.Command(bin, args...)}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return p
}

// waitChanged waits until the file at path holds other bytes than before
// (the agent wrote a checkpoint), polling the real process's file.
func waitChanged(t *testing.T, path string, before []byte, p *agentProc) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if len(b) > 0 && !bytes.Equal(b, before) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent wrote no checkpoint within 30s\n%s", p.stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestAgentCommand_KillNine runs `sluice agent` as a real process while
// logs are appended to and rotated both ways, kills it with SIGKILL after
// it has checkpointed (more lines and rotations in flight), starts it
// again, and at the end drains with --once: every line is in the stream,
// in order per log, and the only duplicates are lines sent again from a
// checkpoint after a kill (one contiguous replay per log per restart at
// most).
func TestAgentCommand_KillNine(t *testing.T) {
	bin := buildSluice(t)
	srv := server.StartTest(t)
	addr := srv.WireAddr().String()
	mustCLI(t, addr, "", "stream", "create", "logs", "--shards", "1")

	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "checkpoints")
	cfg := filepath.Join(dir, "agent.json")
	conf, _ := json.Marshal(map[string]any{"checkpointFile": ckpt, "flows": []map[string]any{{
		"filePattern": filepath.Join(logs, "*.log*"), "stream": "logs",
		"maxBufferAgeMillis": 20, "maxBufferSizeRecords": 50}}})
	if err := os.WriteFile(cfg, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--addr", addr, "agent", "--config", cfg, "--poll", "5ms", "--progress", "0"}

	rounds, linesPerRound, killEvery := 24, 40, 4
	if *agentKillLong {
		rounds *= 10
	}
	names := []string{"a", "b", "c"}
	w := &logWriter{t: t, dir: logs, next: map[string]int{}}
	p := startAgent(t, bin, args...)
	var last []byte
	kills, rotations := 0, 0
	for round := range rounds {
		for _, n := range names {
			w.write(n, linesPerRound)
		}
		if round%2 == 1 {
			w.rotate(names[round%3], rotations%2 == 1)
			rotations++
		}
		if round%killEvery == killEvery-1 {
			last = waitChanged(t, ckpt, last, p)
			for _, n := range names {
				w.write(n, linesPerRound/4) // lines the dying agent may be reading
			}
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.cmd.Wait()
			kills++
			last, _ = os.ReadFile(ckpt) // what the killed process wrote last
			p = startAgent(t, bin, args...)
		}
	}
	// The last agent is stopped with SIGTERM once it has checkpointed lines
	// written after its start: it exits 0 after sending what it had read.
	for _, n := range names {
		w.write(n, linesPerRound)
	}
	last = waitChanged(t, ckpt, last, p)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("sluice agent after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	kills++ // a restart all the same

	// Drain what is left with --once.
	once := startAgent(t, bin, append(args, "--once")...)
	if err := once.cmd.Wait(); err != nil {
		t.Fatalf("sluice agent --once: %v\n%s", err, once.stderr.String())
	}
	if s := once.stderr.String(); !strings.Contains(s, "agent done: ") {
		t.Fatalf("--once printed no summary:\n%s", s)
	}

	total, dups := 0, 0
	perLog := map[string]*lineCheck{}
	for _, n := range names {
		perLog[n] = &lineCheck{max: -1, prev: -1}
		total += w.next[n]
	}
	recs := readAll(t, addr, "logs")
	for i, r := range recs {
		name, num, ok := parseNumbered(r)
		c := perLog[name]
		if !ok || c == nil {
			t.Fatalf("record %d is %q: not a whole numbered line", i, r)
		}
		switch {
		case num == c.max+1:
			c.max = num
		case num <= c.max:
			dups++
			if num != c.prev+1 {
				c.replays++
			}
		default:
			t.Fatalf("record %d: %s line %d follows line %d: lines %d..%d are missing or out of order", i, name, num, c.max, c.max+1, num-1)
		}
		c.prev = num
	}
	for _, n := range names {
		c := perLog[n]
		if c.max != w.next[n]-1 {
			t.Fatalf("log %s: the stream ends at line %d of %d", n, c.max, w.next[n]-1)
		}
		if c.replays > kills {
			t.Fatalf("log %s was replayed %d times over %d restarts: duplicates outside the uncheckpointed windows", n, c.replays, kills)
		}
	}
	if len(recs) != total+dups {
		t.Fatalf("%d records for %d lines and %d duplicates", len(recs), total, dups)
	}
	t.Logf("%d lines in 3 logs, %d rotations (by rename and by copy-truncate), %d restarts (%d after SIGKILL, the last after SIGTERM): %d records, %d duplicates (sent again from the checkpoints after kills; replays per log: a %d, b %d, c %d)",
		total, rotations, kills, kills-1, len(recs), dups, perLog["a"].replays, perLog["b"].replays, perLog["c"].replays)
}

type lineCheck struct{ max, prev, replays int }

func parseNumbered(r string) (string, int, bool) {
	name, num, ok := strings.Cut(strings.TrimSuffix(r, "\n"), " ")
	if !ok || !strings.HasSuffix(r, "\n") || len(num) != 6 {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	return name, n, err == nil
}

// readAll reads every record of a one-shard stream from its start.
func readAll(t *testing.T, addr, stream string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := client.Dial(ctx, addr, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pos, err := c.GetIterator(ctx, stream, api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		res, err := c.Read(ctx, pos, 10000, 8<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			out = append(out, string(r.Data))
		}
		if len(res.Records) == 0 {
			return out
		}
		pos = res.Next
	}
}

// TestAgentCommand_Usage: the command refuses what cannot run, saying why.
func TestAgentCommand_Usage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.json")
	os.WriteFile(cfg, []byte(`{"checkpointFile":"`+filepath.Join(dir, "c")+`","flows":[{"filePattern":"`+filepath.Join(dir, "*.log")+`","stream":"logs"}]}`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"checkpointFile":"/c","flows":[{"filePattern":"/x/*.log","stream":"logs","partitionKeyOption":"HASH"}]}`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent"}, "--config is missing"},
		{[]string{"agent", "--config", bad}, `partitionKeyOption "HASH"; use RANDOM, DETERMINISTIC or JSON_FIELD`},
		{[]string{"agent", "--config", filepath.Join(dir, "none.json")}, "read the agent configuration"},
		{[]string{"agent", "--config", cfg, "--api", "kafka"}, `--api "kafka"; use wire or kinesis`},
		{[]string{"agent", "--config", cfg, "--api", "kinesis"}, "--api kinesis needs --endpoint URL"},
		{[]string{"agent", "--config", cfg, "--endpoint", "http://x"}, "--endpoint and --region are for --api kinesis"},
	} {
		code, _, stderr := runCLI(t, "", tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("sluice %q: exit %d, stderr %q; want exit 2 saying %q", tc.args, code, stderr, tc.want)
		}
	}
	code, stdout, _ := runCLI(t, "", "agent", "-h")
	if code != exitOK || !strings.Contains(stdout, "usage: sluice agent --config FILE") || !strings.Contains(stdout, "--once") {
		t.Fatalf("agent -h: exit %d\n%s", code, stdout)
	}
}

// TestAgentCommand_OnceKinesisAPI ships a file through the Kinesis API of
// an in-process server with `sluice agent --once --api kinesis`.
func TestAgentCommand_OnceKinesisAPI(t *testing.T) {
	srv := server.StartTest(t)
	addr := srv.WireAddr().String()
	mustCLI(t, addr, "", "stream", "create", "logs", "--shards", "1")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.json")
	os.WriteFile(cfg, []byte(`{"checkpointFile":"`+filepath.Join(dir, "c")+`","flows":[{"filePattern":"`+filepath.Join(dir, "*.log")+`","stream":"logs",
		"dataProcessingOptions":[{"optionName":"CSVTOJSON","customFieldNames":["user","qty"]}]}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "a.log"), []byte("alice,3\nbob\n"), 0o644)
	code, _, stderr := runCLI(t, "", "agent", "--config", cfg, "--once", "--api", "kinesis", "--endpoint", "http://"+srv.HTTPAddr().String(),
		"--access-key", "AKIDAGENT", "--secret-key", "secret")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := readAll(t, addr, "logs")
	if len(got) != 2 || got[0] != `{"user":"alice","qty":"3"}`+"\n" || !strings.Contains(got[1], `"raw":"bob"`) {
		t.Fatalf("the stream holds %q", got)
	}
	if !strings.Contains(stderr, "2 lines read, 2 records sent, 0 failed, 1 unparsed") {
		t.Fatalf("summary: %s", stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "level=ERROR") {
			t.Fatalf("logged an error: %s", sc.Text())
		}
	}
}

// TestAgentCommand_OnceOverTLS ships through both doors of a server that
// serves TLS, trusting its CA with --ca-cert as the other commands do.
func TestAgentCommand_OnceOverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	p := ca.Server("server")
	srv, err := server.Start(server.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Quotas: "unlimited",
		TLSCert: p.CertFile, TLSKey: p.KeyFile, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addr := srv.WireAddr().String()
	mustCLI(t, addr, "", "--ca-cert", ca.CertFile, "stream", "create", "logs", "--shards", "1")
	for _, door := range []struct {
		name string
		args []string
	}{
		{"wire", []string{"--addr", addr}},
		{"kinesis", []string{"--api", "kinesis", "--endpoint", "https://" + srv.HTTPAddr().String(), "--access-key", "AKIDAGENT", "--secret-key", "secret"}},
	} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "agent.json")
		os.WriteFile(cfg, []byte(`{"checkpointFile":"`+filepath.Join(dir, "c")+`","flows":[{"filePattern":"`+filepath.Join(dir, "*.log")+`","stream":"logs"}]}`), 0o644)
		os.WriteFile(filepath.Join(dir, "a.log"), []byte("over "+door.name+"\n"), 0o644)
		args := append([]string{"agent", "--config", cfg, "--once", "--ca-cert", ca.CertFile}, door.args...)
		if code, _, stderr := runCLI(t, "", args...); code != exitOK {
			t.Fatalf("%s: exit %d\n%s", door.name, code, stderr)
		}
	}
	out := mustCLI(t, addr, "", "--ca-cert", ca.CertFile, "get", "logs", "--from", "trim-horizon", "--output", "json")
	var data []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Data string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("get printed %q: %v", line, err)
		}
		data = append(data, r.Data)
	}
	if strings.Join(data, "") != "over wire\nover kinesis\n" {
		t.Fatalf("the stream holds %q", data)
	}
}
