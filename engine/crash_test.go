package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
)

// crashRecord is the deterministic content of record i of producer p, so the
// parent can check stored bytes without being told them.
func crashRecord(p, i int) (key, data []byte) {
	key = []byte(fmt.Sprintf("p%d-k%d", p, i%7))
	n := 20 + (i*37+p*11)%3000
	data = bytes.Repeat([]byte{byte('a' + (i+p)%26)}, n)
	copy(data, fmt.Sprintf("%d/%d/", p, i))
	return key, data
}

// TestCrashChild is the child process of TestCrash_KillDuringDurablePuts. It
// puts records from several producers in Always mode and prints a line per
// acknowledged record until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SLUICE_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrash_KillDuringDurablePuts")
	}
	q := ratelimit.Unlimited
	opts := Options{Dir: dir, Quotas: &q, Durability: api.Always}
	if os.Getenv("SLUICE_CRASH_KMS") != "" {
		keys, err := kms.Open(filepath.Join(dir, "kms"), kms.Options{Passphrase: "crash test", KDFIterations: 10})
		if err != nil {
			fmt.Println("open keyring:", err)
			os.Exit(2)
		}
		opts.Keys = keys
	}
	e, err := Open(opts)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	producers := 4
	if v := os.Getenv("SLUICE_CRASH_PRODUCERS"); v != "" {
		producers, _ = strconv.Atoi(v)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			recs := make([]api.PutRecord, 8)
			res := make([]api.PutResult, 8)
			for i := 0; ; {
				n := 1 + i%len(recs)
				for j := 0; j < n; j++ {
					k, d := crashRecord(p, i+j)
					recs[j] = api.PutRecord{Key: k, Data: d}
				}
				if _, err := e.PutRecords("crash", recs[:n], res[:n]); err != nil {
					fmt.Println("put:", err)
					os.Exit(2)
				}
				var b strings.Builder
				for j := 0; j < n; j++ {
					if res[j].Err != nil {
						fmt.Println("put:", res[j].Err)
						os.Exit(2)
					}
					fmt.Fprintf(&b, "ack %d %d %d %d\n", p, i+j, res[j].Seq.Shard, res[j].Seq.Seq)
				}
				out.Lock()
				os.Stdout.WriteString(b.String())
				out.Unlock()
				i += n
			}
		}(p)
	}
	wg.Wait()
}

type ack struct {
	p, i, shard int
	seq         uint64
}

// parseAck reads a child's "ack P I SHARD SEQ" line; ok is false for any
// other line.
func parseAck(line string) (a ack, ok bool) {
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "ack" {
		return ack{}, false
	}
	a.p, _ = strconv.Atoi(f[1])
	a.i, _ = strconv.Atoi(f[2])
	a.shard, _ = strconv.Atoi(f[3])
	a.seq, _ = strconv.ParseUint(f[4], 10, 64)
	return a, true
}

func TestCrash_KillDuringDurablePuts(t *testing.T) { killLoop(t, false, 3, 4) }

// TestCrash_KillDuringEncryptedPuts is the same on a stream encrypted
// under a key of a passphrase-sealed keyring: no acknowledged record is
// lost, none is returned torn, every one reads back decrypted, and no
// record's bytes are stored in the clear.
func TestCrash_KillDuringEncryptedPuts(t *testing.T) { killLoop(t, true, 3, 4) }

// TestCrash_KillDuringDurablePuts64Shards is the same with 64 shards written
// at once by 16 producers, each PutRecords call spread over several shards:
// every shard's acknowledged records survive, whichever shard's flush the
// kill cut short.
func TestCrash_KillDuringDurablePuts64Shards(t *testing.T) { killLoop(t, false, 64, 16) }

func killLoop(t *testing.T, encrypted bool, shards, producers int) {
	requireSingleNode(t, "kill -9 of a child process serving one data directory")
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var e *Engine
	if encrypted {
		keys, err := kms.Open(filepath.Join(dir, "kms"), kms.Options{Create: true, Passphrase: "crash test", KDFIterations: 10})
		if err != nil {
			t.Fatal(err)
		}
		q := ratelimit.Unlimited
		if e, err = Open(Options{Dir: dir, Quotas: &q, Keys: keys}); err != nil {
			t.Fatal(err)
		}
	} else {
		e = openDir(t, dir)
	}
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "crash", ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
	if encrypted {
		if err := e.SetEncryption("crash", "KMS", kms.DefaultAlias); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	var acked []ack
	for round := 0; round < 4; round++ {
		killAfter := 50 + rng.IntN(3000)
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), "SLUICE_CRASH_DIR="+dir, "SLUICE_CRASH_PRODUCERS="+strconv.Itoa(producers))
		if encrypted {
			cmd.Env = append(cmd.Env, "SLUICE_CRASH_KMS=1")
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		var roundAcks []ack
		for sc.Scan() {
			a, ok := parseAck(sc.Text())
			if !ok {
				t.Fatalf("child said %q", sc.Text())
			}
			roundAcks = append(roundAcks, a)
			if n++; n == killAfter {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		// Everything the child printed before it died was acknowledged too.
		for sc.Scan() {
			if a, ok := parseAck(sc.Text()); ok {
				roundAcks = append(roundAcks, a)
			}
		}
		cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child exited after %d acknowledgements", round, n)
		}
		acked = append(acked, roundAcks...)
		verifyCrash(t, dir, round, shards, acked, encrypted)
	}
	touched := map[int]bool{}
	for _, a := range acked {
		touched[a.shard] = true
	}
	if len(touched) < min(shards, 3*producers)/2 {
		t.Errorf("acknowledged records landed in %d of %d shards; the test meant to write most of them", len(touched), shards)
	}
	if encrypted {
		// Record 0 of producer 0 was acknowledged; its distinctive prefix
		// and its bytes must be nowhere in the clear.
		if _, d := crashRecord(0, 1); len(filesHolding(t, dir, d[:40])) > 0 {
			t.Fatalf("an encrypted record is stored in the clear: %v", filesHolding(t, dir, d[:40]))
		}
	}
}

// verifyCrash reopens the data directory and checks that every acknowledged
// record is present, byte-exact, at its acknowledged position, and that every
// record returned is one some producer wrote.
func verifyCrash(t *testing.T, dir string, round, shards int, acked []ack, encrypted bool) {
	t.Helper()
	q := ratelimit.Unlimited
	opts := Options{Dir: dir, Quotas: &q}
	if encrypted {
		keys, err := kms.Open(filepath.Join(dir, "kms"), kms.Options{Passphrase: "crash test"})
		if err != nil {
			t.Fatalf("round %d: reopen keyring: %v", round, err)
		}
		opts.Keys = keys
	}
	e, err := Open(opts)
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer e.Close()
	stored := map[[2]uint64][]byte{}
	for sh := 0; sh < shards; sh++ {
		recs := readShard(t, e, "crash", sh)
		for i, r := range recs {
			if r.Seq.Seq != uint64(i) {
				t.Fatalf("round %d shard %d: record %d has sequence %d", round, sh, i, r.Seq.Seq)
			}
			if r.Encrypted() != encrypted {
				t.Fatalf("round %d shard %d: record %d reads with Encrypted %v", round, sh, i, r.Encrypted())
			}
			var p, n int
			if _, err := fmt.Sscanf(string(r.Data), "%d/%d/", &p, &n); err != nil {
				t.Fatalf("round %d: a stored record is not one the producers wrote: %.40q", round, r.Data)
			}
			k, d := crashRecord(p, n)
			if !bytes.Equal(k, r.Key) || !bytes.Equal(d, r.Data) {
				t.Fatalf("round %d: record %d/%d stored with different bytes", round, p, n)
			}
			stored[[2]uint64{uint64(sh), r.Seq.Seq}] = r.Data
		}
	}
	for _, a := range acked {
		d, ok := stored[[2]uint64{uint64(a.shard), a.seq}]
		if !ok {
			t.Fatalf("round %d: acknowledged record %d/%d (shard %d seq %d) is lost", round, a.p, a.i, a.shard, a.seq)
		}
		_, want := crashRecord(a.p, a.i)
		if !bytes.Equal(d, want) {
			t.Fatalf("round %d: acknowledged record %d/%d has other bytes at its position", round, a.p, a.i)
		}
	}
}
