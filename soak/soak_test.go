package soak

import (
	"context"
	"flag"
	"testing"
	"time"
)

var (
	soakTime     = flag.Duration("soak.time", 10*time.Second, "how long TestSoak runs its load (make soak sets it from SOAKTIME)")
	writeTimeout = flag.Duration("soak.write-timeout", 0, "the server's --write-timeout in TestSoak (0: the soak's default)")
	inflight     = flag.Int64("soak.inflight", 0, "the server's --max-inflight-total in TestSoak (0: the soak's default)")
	connInflight = flag.Int64("soak.conn-inflight", 0, "the server's --max-inflight-bytes in TestSoak (0: the soak's default)")
)

// TestSoak runs sluiced under hostile and normal load for -soak.time and
// fails if an acknowledged record is missing or changed, a normal
// producer was refused or cut off, a stalled connection outlived its
// timeout, or the server's peak resident set passed the bound.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sluiced and runs a server process under load; skipped with -short")
	}
	if err := CheckProc(); err != nil {
		t.Skipf("the memory bound reads /proc: %v", err)
	}
	bin, err := Build(t.TempDir(), raceEnabled)
	if err != nil {
		t.Skipf("cannot build sluiced: %v", err)
	}
	rep, err := Run(context.Background(), Config{
		Binary: bin, DataDir: t.TempDir(), Duration: *soakTime, Race: raceEnabled, Logf: t.Logf,
		InFlightTotal: *inflight, ConnInFlight: *connInflight, Timeouts: Timeouts{Write: *writeTimeout},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	for _, f := range rep.Failures {
		t.Error(f)
	}
	if rep.HostileTotal() == 0 {
		t.Error("no hostile connection was made")
	}
}

func TestPayload_KeyNamesRecord(t *testing.T) {
	for _, id := range []recordID{{0, 0}, {3, 17}, {4294967295, 4294967295}} {
		key, data := payload(id)
		got, ok := parseKey(key)
		if !ok || got != id {
			t.Fatalf("key %q of %v parses as %v, %v", key, id, got, ok)
		}
		if _, again := payload(id); string(again) != string(data) || len(data) == 0 || len(data) > maxDataSize {
			t.Fatalf("payload of %v is not the same %d..%d bytes each time", id, 1, maxDataSize)
		}
	}
	for _, bad := range []string{"", "p", "p1", "q1-2", "p1-", "p-1", "p1-x"} {
		if _, ok := parseKey([]byte(bad)); ok {
			t.Fatalf("parseKey(%q) accepted a key no producer sends", bad)
		}
	}
}
