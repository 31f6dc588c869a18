//go:build unix

// Package e2e holds the end-to-end test: it builds the real sluiced and
// sluice binaries, runs the server on free ports, drives it with the CLI,
// kills it with SIGKILL in the middle of a stream of puts, restarts it, and
// checks that every acknowledged record came back, in order and byte-exact.
package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/record"
)

// binaries are the sluiced and sluice executables built for the test.
type binaries struct{ sluiced, sluice string }

// build compiles both commands with the toolchain running the test (with
// -race when the test runs under the race detector).
func build(t *testing.T) binaries {
	t.Helper()
	dir := t.TempDir()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sluicedb/sluice/cmd/sluiced", "github.com/sluicedb/sluice/cmd/sluice")
	cmd := exec.Command(gobin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return binaries{sluiced: filepath.Join(dir, "sluiced"), sluice: filepath.Join(dir, "sluice")}
}

// server is one sluiced process.
type server struct {
	cmd      *exec.Cmd
	wireAddr string
	httpAddr string
	exited   chan struct{} // closed when the process has exited; then err is set
	err      error
	serving  chan struct{} // closed once it logged the addresses it bound

	// mu guards logLines.
	mu       sync.Mutex
	logLines []map[string]any // the JSON log records so far
}

// startServer starts sluiced on dataDir with free ports (and any extra
// flags) and waits until it logs the addresses it bound.
func startServer(t *testing.T, bin binaries, dataDir string, extra ...string) *server {
	t.Helper()
	s := launchServer(t, bin, dataDir, append([]string{"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, extra...)...)
	s.waitServing(t, 20*time.Second)
	return s
}

// launchServer starts sluiced on dataDir with the given flags and returns
// at once; waitServing waits for it to serve.
func launchServer(t *testing.T, bin binaries, dataDir string, flags ...string) *server {
	t.Helper()
	return launchServerIn(t, nil, bin, dataDir, flags...)
}

// launchServerIn is launchServer with a command prefix (such as "ip netns
// exec NAME") that runs sluiced in place of the test's own environment.
func launchServerIn(t *testing.T, prefix []string, bin binaries, dataDir string, flags ...string) *server {
	t.Helper()
	s := &server{exited: make(chan struct{}), serving: make(chan struct{})}
	args := append([]string{"--data-dir", dataDir, "--log-format", "json"}, flags...)
	if len(prefix) > 0 {
		s.cmd = exec.Command(prefix[0], append(append(prefix[1:len(prefix):len(prefix)], bin.sluiced), args...)...)
	} else {
		s.cmd = exec.Command(bin.sluiced, args...)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logDone := make(chan struct{})
	// Read the log until the process closes it: keep every record, and
	// report the "serving" line's addresses.
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				rec = map[string]any{"msg": "unparsed: " + sc.Text()}
			}
			s.mu.Lock()
			s.logLines = append(s.logLines, rec)
			s.mu.Unlock()
			if rec["msg"] == "sluiced serving" && s.wireAddr == "" {
				s.wireAddr, _ = rec["listen"].(string)
				s.httpAddr, _ = rec["http"].(string)
				close(s.serving)
			}
		}
	}()
	go func() {
		<-logDone
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
	return s
}

// waitServing waits until the server logs the addresses it bound.
func (s *server) waitServing(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-s.serving:
	case <-s.exited:
		t.Fatalf("sluiced exited before serving: %v\n%s", s.err, s.logText())
	case <-time.After(limit):
		t.Fatalf("sluiced did not log its addresses within %v\n%s", limit, s.logText())
	}
	if s.wireAddr == "" || s.httpAddr == "" || strings.HasSuffix(s.wireAddr, ":0") {
		t.Fatalf("sluiced logged listen=%q http=%q; want the bound addresses", s.wireAddr, s.httpAddr)
	}
}

// logged returns the log records whose msg is msg.
func (s *server) logged(msg string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, r := range s.logLines {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, r := range s.logLines {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// stop sends sig and waits for the process to exit.
func (s *server) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		return s.err
	case <-time.After(30 * time.Second):
		t.Fatalf("sluiced did not exit within 30s of %v", sig)
		return nil
	}
}

// sluice runs the CLI against s and returns its output and exit code.
func sluice(t *testing.T, bin binaries, s *server, stdin []byte, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.sluice, append([]string{"--addr", s.wireAddr}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("sluice %q: %v", args, err)
	}
	return out.Bytes(), errb.Bytes(), code
}

func mustSluice(t *testing.T, bin binaries, s *server, stdin []byte, args ...string) []byte {
	t.Helper()
	out, errb, code := sluice(t, bin, s, stdin, args...)
	if code != 0 {
		t.Fatalf("sluice %q: exit %d\n%s", args, code, errb)
	}
	return out
}

// record is a record as `sluice get --output json` prints it.
type gotRecord struct {
	Shard      string  `json:"shard"`
	Sequence   string  `json:"sequence"`
	Key        string  `json:"key"`
	Data       *string `json:"data"`
	DataBase64 *string `json:"data_base64"`
	seq        api.SeqNum
	data       []byte
}

// getAll reads every record of stream with `sluice get --output json`.
func getAll(t *testing.T, bin binaries, s *server, stream string) []gotRecord {
	t.Helper()
	out := mustSluice(t, bin, s, nil, "get", stream, "--output", "json")
	var recs []gotRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var r gotRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("get line %q: %v", sc.Text(), err)
		}
		switch {
		case r.Data != nil && r.DataBase64 == nil:
			r.data = []byte(*r.Data)
		case r.DataBase64 != nil && r.Data == nil:
			b, err := base64.StdEncoding.DecodeString(*r.DataBase64)
			if err != nil {
				t.Fatalf("get line %q: %v", sc.Text(), err)
			}
			r.data = b
		default:
			t.Fatalf("get line %q carries its data in neither or both fields", sc.Text())
		}
		var err error
		if r.seq, err = api.ParseSeqNum(r.Sequence); err != nil || api.ShardID(int(r.seq.Shard)) != r.Shard {
			t.Fatalf("get line %q: sequence %q does not belong to %s", sc.Text(), r.Sequence, r.Shard)
		}
		recs = append(recs, r)
	}
	return recs
}

// ack is one `sluice put -v` line.
type ack struct {
	shard string
	seq   api.SeqNum
}

func parseAck(t *testing.T, line string) ack {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("put -v line %q is not SHARD SEQUENCE", line)
	}
	sn, err := api.ParseSeqNum(f[1])
	if err != nil || api.ShardID(int(sn.Shard)) != f[0] {
		t.Fatalf("put -v line %q: %v", line, err)
	}
	return ack{f[0], sn}
}

// makeLine is input line i: a JSON object whose "k" is the partition key
// (one of 8) and whose "d" carries bytes that are not valid UTF-8, so that
// byte-exactness is checked through get's base64 output.
func makeLine(rng *rand.Rand, phase string, i int) []byte {
	b := fmt.Appendf(nil, `{"k":"key-%d","i":%d,"phase":%q,"d":"`, i%8, i, phase)
	for range 20 + rng.IntN(60) {
		switch c := byte(rng.IntN(256)); {
		case c >= 0x80, c >= 0x20 && c != '"' && c != '\\' && c != 0x7f:
			b = append(b, c)
		default:
			b = append(b, 'x')
		}
	}
	return append(b, `"}`...)
}

func TestEndToEnd_KillRestartRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs a server process; skipped with -short")
	}
	bin := build(t)
	dataDir := t.TempDir()
	srv := startServer(t, bin, dataDir)

	resp, err := http.Get("http://" + srv.httpAddr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz on the logged --http address: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("/healthz: %s %q", resp.Status, body)
	}

	const stream = "e2e"
	mustSluice(t, bin, srv, nil, "stream", "create", stream, "--shards", "2", "--quotas", "unlimited", "--fsync", "always")

	// Phase 1: put through stdin, read back with get.
	rng := rand.New(rand.NewPCG(1, 2))
	var warm [][]byte
	for i := range 300 {
		warm = append(warm, makeLine(rng, "warm", i))
	}
	out := mustSluice(t, bin, srv, append(bytes.Join(warm, []byte("\n")), '\n'), "put", stream, "--key-field", "k", "-v")
	acked := map[string]int{} // sequence -> input line of phase 1
	for i, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		acked[parseAck(t, line).seq.String()] = i
	}
	if len(acked) != len(warm) {
		t.Fatalf("put -v acknowledged %d records; want %d", len(acked), len(warm))
	}
	recs := getAll(t, bin, srv, stream)
	if len(recs) != len(warm) {
		t.Fatalf("get returned %d records; want %d", len(recs), len(warm))
	}
	for _, r := range recs {
		i, ok := acked[r.Sequence]
		if !ok || !bytes.Equal(r.data, warm[i]) || r.Key != fmt.Sprintf("key-%d", i%8) {
			t.Fatalf("record %s (key %s) holds %q; want line %d %q", r.Sequence, r.Key, r.data, i, warm[i])
		}
	}

	// Phase 2: a producer fed from a pipe; SIGKILL the server mid-stream.
	crash, acks := putUntilKilled(t, bin, srv, stream, rng)
	if len(acks) < 1000 {
		t.Fatalf("only %d records were acknowledged before the kill", len(acks))
	}

	// A SIGKILL cannot tear a write (the kernel finishes each pwritev into
	// the page cache), so add the torn frame a power loss would leave after
	// the last record of shard 0: recovery must cut it, say so in the log,
	// and keep every acknowledged record.
	tornShard := "shardId-000000000000"
	tearTail(t, dataDir, tornShard)

	srv = startServer(t, bin, dataDir)
	var cut map[string]any
	for _, r := range srv.logged("recovered shard log after an unclean shutdown") {
		if r["stream"] == stream && r["shard"] == tornShard {
			cut = r
		}
	}
	if cut == nil {
		t.Fatalf("the restart did not log recovering %s of %s:\n%s", tornShard, stream, srv.logText())
	}
	if n, _ := cut["truncated_bytes"].(float64); n <= 0 {
		t.Fatalf("recovery of %s logged %v; want the torn bytes it cut", tornShard, cut)
	}

	recs = getAll(t, bin, srv, stream)
	checkRecovered(t, recs, warm, crash, acks, describeRanges(t, bin, srv, stream))

	// SIGTERM: a clean shutdown (exit 0) that leaves every shard marked
	// clean, so that the next start needs no recovery.
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("sluiced exited with %v after SIGTERM; want status 0\n%s", err, srv.logText())
	}
	if len(srv.logged("stopped cleanly")) != 1 {
		t.Fatalf("no clean stop logged:\n%s", srv.logText())
	}
	shardDirs, _ := filepath.Glob(filepath.Join(dataDir, "streams", "*", "shardId-*"))
	if len(shardDirs) != 2 {
		t.Fatalf("shard directories %q; want 2", shardDirs)
	}
	for _, d := range shardDirs {
		if _, err := os.Stat(filepath.Join(d, "CLEAN")); err != nil {
			t.Fatalf("after SIGTERM %s has no clean-shutdown marker: %v", d, err)
		}
	}
	srv = startServer(t, bin, dataDir)
	if r := srv.logged("recovered shard log after an unclean shutdown"); len(r) != 0 {
		t.Fatalf("the start after a clean shutdown recovered shards: %v", r)
	}
	if again := getAll(t, bin, srv, stream); len(again) != len(recs) {
		t.Fatalf("after a clean restart get returned %d records; before it %d", len(again), len(recs))
	}
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("second SIGTERM: %v", err)
	}
}

// putUntilKilled runs `sluice put -v` fed from a pipe, SIGKILLs the server
// once 1,000 records are acknowledged, and returns the lines fed and the
// acknowledgements printed (ack i is for line i: one request in flight, no
// throttling).
func putUntilKilled(t *testing.T, bin binaries, srv *server, stream string, rng *rand.Rand) (fed [][]byte, acks []ack) {
	t.Helper()
	cmd := exec.Command(bin.sluice, "--addr", srv.wireAddr, "put", stream, "--key-field", "k", "-v")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Prepare the lines up front; the writer feeds them until put stops
	// reading (it exits once the connection is lost).
	const maxLines = 1_000_000
	lines := make([][]byte, 0, 1<<16)
	var fedN int
	writerDone := make(chan struct{})
	var wmu sync.Mutex // guards lines and fedN against the final read below
	go func() {
		defer close(writerDone)
		defer stdin.Close()
		bw := bufio.NewWriterSize(stdin, 64<<10)
		for i := range maxLines {
			l := makeLine(rng, "crash", i)
			wmu.Lock()
			lines = append(lines, l)
			fedN = i + 1
			wmu.Unlock()
			bw.Write(l)
			if err := bw.WriteByte('\n'); err != nil {
				return
			}
		}
		bw.Flush()
	}()
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		acks = append(acks, parseAck(t, sc.Text()))
		if len(acks) >= 1000 && !killed {
			if err := srv.stop(t, syscall.SIGKILL); err == nil {
				t.Fatalf("sluiced exited cleanly after SIGKILL")
			}
			killed = true
		}
	}
	err = cmd.Wait()
	<-writerDone
	if !killed {
		t.Fatalf("put ended after %d acknowledgements, before the kill: %v\n%s", len(acks), err, stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "lost the connection to the server at "+srv.wireAddr) {
		t.Fatalf("put after the kill: %v, stderr %q; want exit 1 naming the lost connection", err, stderr.String())
	}
	wmu.Lock()
	defer wmu.Unlock()
	return lines[:fedN], acks
}

// tearTail writes a torn frame (a length and a few bytes of a frame whose
// CRC cannot match) right after the last frame of shard's active segment.
func tearTail(t *testing.T, dataDir, shard string) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dataDir, "streams", "*", shard, "*.seg"))
	if len(segs) == 0 {
		t.Fatalf("no segment files for %s under %s", shard, dataDir)
	}
	slices.Sort(segs)
	path := segs[len(segs)-1]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	it := record.NewFrameIter(b)
	end := 0
	for _, ok := it.Next(); ok; _, ok = it.Next() {
		end = it.Offset()
	}
	if it.Err() != nil {
		t.Fatalf("%s is corrupt before the test tore it: %v", path, it.Err())
	}
	torn := make([]byte, 64)
	binary.LittleEndian.PutUint32(torn[0:], 0xdeadbeef) // a CRC of nothing
	binary.LittleEndian.PutUint32(torn[4:], 200)        // a frame longer than what follows
	for i := 8; i < len(torn); i++ {
		torn[i] = 0xa5
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(torn, int64(end)); err != nil {
		t.Fatal(err)
	}
}

// hashRange is a shard's hash key range.
type hashRange struct {
	id         string
	start, end api.HashKey
}

func describeRanges(t *testing.T, bin binaries, srv *server, stream string) []hashRange {
	t.Helper()
	var d struct {
		Shards []struct {
			ID    string `json:"id"`
			Start string `json:"hash_key_start"`
			End   string `json:"hash_key_end"`
		} `json:"shards"`
	}
	if err := json.Unmarshal(mustSluice(t, bin, srv, nil, "stream", "describe", stream, "--json"), &d); err != nil {
		t.Fatal(err)
	}
	var out []hashRange
	for _, s := range d.Shards {
		start, err1 := api.ParseHashKey(s.Start)
		end, err2 := api.ParseHashKey(s.End)
		if err1 != nil || err2 != nil {
			t.Fatalf("describe: shard %+v has unparsable ranges", s)
		}
		out = append(out, hashRange{s.ID, start, end})
	}
	return out
}

func shardOf(ranges []hashRange, key string) string {
	h := api.HashPartitionKey([]byte(key))
	for _, r := range ranges {
		if h.Cmp(r.start) >= 0 && h.Cmp(r.end) <= 0 {
			return r.id
		}
	}
	return ""
}

// checkRecovered checks the records read after the crash: per shard, in
// sequence order, the phase-1 lines routed there, then a prefix (no gaps)
// of the phase-2 lines routed there that covers every acknowledged one,
// at its acknowledged sequence number, byte for byte.
func checkRecovered(t *testing.T, recs []gotRecord, warm, crash [][]byte, acks []ack, ranges []hashRange) {
	t.Helper()
	want := map[string][][]byte{} // shard -> lines routed there, in put order
	route := func(lines [][]byte, n int) {
		for i := range n {
			k := fmt.Sprintf("key-%d", i%8)
			s := shardOf(ranges, k)
			want[s] = append(want[s], lines[i])
		}
	}
	route(warm, len(warm))
	warmPer := map[string]int{}
	for s, l := range want {
		warmPer[s] = len(l)
	}
	route(crash, len(crash))
	ackedPer := map[string][]ack{} // shard -> its acknowledgements, in put order
	for i, a := range acks {
		if s := shardOf(ranges, fmt.Sprintf("key-%d", i%8)); s != a.shard {
			t.Fatalf("ack %d is on %s; line %d's key routes to %s", i, a.shard, i, s)
		}
		ackedPer[a.shard] = append(ackedPer[a.shard], a)
	}
	got := map[string][]gotRecord{}
	for _, r := range recs {
		got[r.Shard] = append(got[r.Shard], r)
	}
	total := 0
	for shard, rs := range got {
		slices.SortFunc(rs, func(a, b gotRecord) int { return cmp.Compare(a.seq.Seq, b.seq.Seq) })
		w := want[shard]
		if len(rs) > len(w) {
			t.Fatalf("%s holds %d records; only %d lines were routed there", shard, len(rs), len(w))
		}
		acked := ackedPer[shard]
		if min := warmPer[shard] + len(acked); len(rs) < min {
			t.Fatalf("%s holds %d records after recovery; %d were acknowledged there", shard, len(rs), min)
		}
		for i, r := range rs {
			if !bytes.Equal(r.data, w[i]) {
				t.Fatalf("%s record %d (%s) is %q; want %q", shard, i, r.Sequence, r.data, w[i])
			}
			if i > 0 && r.seq.Seq != rs[i-1].seq.Seq+1 {
				t.Fatalf("%s: sequence %d follows %d", shard, r.seq.Seq, rs[i-1].seq.Seq)
			}
			if j := i - warmPer[shard]; j >= 0 && j < len(acked) && acked[j].seq != r.seq {
				t.Fatalf("%s: acknowledged line %d of the shard was stored at %v; put -v said %v", shard, j, r.seq, acked[j].seq)
			}
		}
		total += len(rs)
	}
	for shard, acked := range ackedPer {
		if len(acked) > 0 && len(got[shard]) == 0 {
			t.Fatalf("%s lost all its %d acknowledged records", shard, len(acked))
		}
	}
	t.Logf("%d records acknowledged before the kill, %d lines fed, %d records recovered (%d unacknowledged ones were durable too)",
		len(acks), len(crash), total-len(warm), total-len(warm)-len(acks))
}
