package auth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// auditLine is a line of the audit log as a reader parses it.
type auditLine struct {
	Time     string `json:"time"`
	Identity string `json:"identity"`
	Action   string `json:"action"`
	Resource string `json:"resource"`
	Door     string `json:"door"`
	Outcome  string `json:"outcome"`
	Remote   string `json:"remote"`
}

// readAudit parses every line of the audit log at path, failing on one that
// is not a JSON object of exactly the log's fields.
func readAudit(t *testing.T, path string) []auditLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []auditLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l auditLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d %q is not a valid audit line: %v", len(lines)+1, sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestAudit_Lines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	events := []AuditEvent{
		{Time: when, Identity: "arn:aws:iam::123456789012:user/ingest", Action: "kinesis:PutRecords",
			Resource: ordersARN, Door: "http", Outcome: OutcomeAllowed, Remote: "10.0.0.1:5000"},
		{Time: when, Identity: Anonymous, Action: "kinesis:DeleteStream", Resource: paymentsARN, Door: "wire", Outcome: OutcomeDenied},
		{Time: when, Identity: "a \"quoted\"\nname\u2028", Action: "kinesis:CreateStream", Resource: "*", Door: "http", Outcome: "error:ResourceInUseException"},
	}
	for _, e := range events {
		a.Log(e)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readAudit(t, path)
	if len(lines) != len(events) {
		t.Fatalf("%d lines for %d events", len(lines), len(events))
	}
	for i, e := range events {
		l := lines[i]
		ts, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil || !ts.Equal(e.Time) || ts.Location() != time.UTC {
			t.Errorf("line %d time %q (%v); want %v in UTC", i+1, l.Time, err, e.Time)
		}
		want := auditLine{Time: l.Time, Identity: e.Identity, Action: e.Action, Resource: e.Resource, Door: e.Door, Outcome: e.Outcome, Remote: e.Remote}
		if l != want {
			t.Errorf("line %d = %+v; want %+v", i+1, l, want)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %04o; want 0600", fi.Mode().Perm())
	}
}

// TestAudit_CloseFlushes: every line logged before Close is in the file when
// Close returns; a reopened log appends.
func TestAudit_CloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for round := 1; round <= 2; round++ {
		a, err := OpenAudit(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10000 {
			a.Log(AuditEvent{Time: time.Unix(int64(i), 0), Identity: Anonymous, Action: "kinesis:PutRecords", Resource: fmt.Sprint(round, "/", i), Door: "http", Outcome: OutcomeAllowed})
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		a.Log(AuditEvent{Identity: "after close"}) // dropped, and no panic
		lines := readAudit(t, path)
		if len(lines) != round*10000 {
			t.Fatalf("round %d: %d lines", round, len(lines))
		}
		if last := lines[len(lines)-1].Resource; last != fmt.Sprint(round, "/", 9999) {
			t.Fatalf("round %d: last line is %s", round, last)
		}
	}
}

// TestAudit_ConcurrentLoggers: lines of concurrent loggers never interleave
// and none is lost, even when the buffer fills.
func TestAudit_ConcurrentLoggers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	const loggers, each = 8, 3000
	big := fmt.Sprintf("%0512d", 0) // long lines fill the buffer sooner
	var wg sync.WaitGroup
	for g := range loggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a.Log(AuditEvent{Time: time.Now(), Identity: fmt.Sprintf("logger-%d", g), Action: "kinesis:PutRecords",
					Resource: fmt.Sprintf("%d:%s", i, big), Door: "http", Outcome: OutcomeAllowed})
			}
		}()
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readAudit(t, path)
	if len(lines) != loggers*each {
		t.Fatalf("%d lines; want %d", len(lines), loggers*each)
	}
	next := map[string]int{}
	for _, l := range lines {
		var i int
		fmt.Sscanf(l.Resource, "%d:", &i)
		if i != next[l.Identity] {
			t.Fatalf("%s: line %d after %d", l.Identity, i, next[l.Identity]-1)
		}
		next[l.Identity]++
	}
}

func TestAudit_Nil(t *testing.T) {
	var a *Audit
	a.Log(AuditEvent{Identity: Anonymous})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenAudit_Error(t *testing.T) {
	if _, err := OpenAudit(filepath.Join(t.TempDir(), "missing", "audit.log")); err == nil {
		t.Fatal("OpenAudit in a missing directory succeeded")
	}
}
