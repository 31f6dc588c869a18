package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/server"
)

const testUsers = `{"account": "123456789012", "users": [
  {"name": "agent", "access_key_id": "AKIAAGENT00000000001", "secret_access_key": "agent-secret-0123456789",
   "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:*"], "Resource": "*"}]}}]}`

var testKeys = &client.Credentials{AccessKeyID: "AKIAAGENT00000000001", SecretAccessKey: "agent-secret-0123456789"}

// startAuthServer starts sluiced in-process with a users file, so that
// every request's signature is verified.
func startAuthServer(t *testing.T) *server.Server {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.json")
	if err := os.WriteFile(users, []byte(testUsers), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := server.Start(server.Config{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0",
		Quotas: "unlimited", AuthFile: users, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func dialer(s *server.Server, keys *client.Credentials) func(ctx context.Context) (*client.Client, error) {
	return func(ctx context.Context) (*client.Client, error) {
		return client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{Credentials: keys})
	}
}

// readStream reads every record of a one-shard stream from its start.
func readStream(t *testing.T, s *server.Server, stream string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := dialer(s, testKeys)(ctx)
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

func createStream(t *testing.T, s *server.Server, name string) {
	t.Helper()
	c, err := dialer(s, testKeys)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateStream(context.Background(), api.CreateStreamInput{Name: name, ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestDestinations_ShipThroughEitherDoor runs the agent with --once into
// sluice through the binary protocol and through the Kinesis API (SigV4
// verified by a server started with a users file), LOGTOJSON included.
func TestDestinations_ShipThroughEitherDoor(t *testing.T) {
	s := startAuthServer(t)
	for _, tc := range []struct {
		name string
		dest func(t *testing.T) Destination
	}{
		{"wire", func(t *testing.T) Destination { return NewWireDestination(dialer(s, testKeys)) }},
		{"kinesis", func(t *testing.T) Destination {
			d, err := NewKinesisDestination(KinesisOptions{Endpoint: "http://" + s.HTTPAddr().String(), Credentials: testKeys})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "agent-" + tc.name
			createStream(t, s, stream)
			h := newHarness(t, func(f *Flow) {
				f.Stream = stream
				f.DataProcessingOptions = []ProcessingOption{{OptionName: OptLogToJSON, LogFormat: FormatCommonApache}}
			})
			h.a.opts.Destination = tc.dest(t)
			h.appendRaw("a.log", `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326`+"\nnot apache\n")
			h.appendLines("a.log", 0, 700)
			h.runOnce()
			got := readStream(t, s, stream)
			if len(got) != 702 {
				t.Fatalf("the stream holds %d records; want 702", len(got))
			}
			if !strings.HasPrefix(got[0], `{"host":"127.0.0.1","ident":"-","authuser":"frank"`) || !strings.Contains(got[1], `"raw":"not apache"`) ||
				!strings.Contains(got[701], `"raw":"a.log 699"`) {
				t.Fatalf("records: %q ... %q", got[:2], got[701])
			}
		})
	}
}

// TestKinesisDestination_WrongSecretIsRefused: a request signed with the
// wrong secret is refused by the server as a signature error, which the
// agent retries rather than dropping the records.
func TestKinesisDestination_WrongSecretIsRefused(t *testing.T) {
	s := startAuthServer(t)
	createStream(t, s, "logs")
	d, err := NewKinesisDestination(KinesisOptions{Endpoint: "http://" + s.HTTPAddr().String(),
		Credentials: &client.Credentials{AccessKeyID: testKeys.AccessKeyID, SecretAccessKey: "wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	err = d.PutRecords(context.Background(), "logs", []Record{{Key: []byte("k"), Data: []byte("d")}}, make([]error, 1))
	var pe *PutError
	if !errors.As(err, &pe) || pe.Code != "InvalidSignatureException" || permanent(err) {
		t.Fatalf("got %v; want InvalidSignatureException, retried", err)
	}
	if got := readStream(t, s, "logs"); len(got) != 0 {
		t.Fatalf("the stream holds %q", got)
	}
}

// TestWireDestination_RedialsAfterALostConnection: a destination whose
// connection broke dials again on the next put.
func TestWireDestination_RedialsAfterALostConnection(t *testing.T) {
	s := startAuthServer(t)
	createStream(t, s, "logs")
	dials := 0
	d := NewWireDestination(func(ctx context.Context) (*client.Client, error) {
		dials++
		return dialer(s, testKeys)(ctx)
	})
	defer d.Close()
	res := make([]error, 1)
	if err := d.PutRecords(context.Background(), "logs", []Record{{Key: []byte("k"), Data: []byte("one")}}, res); err != nil || res[0] != nil {
		t.Fatal(err, res[0])
	}
	d.c.Close() // the connection is lost
	if err := d.PutRecords(context.Background(), "logs", []Record{{Key: []byte("k"), Data: []byte("lost")}}, res); err == nil {
		t.Fatal("a put over a closed connection succeeded")
	}
	if err := d.PutRecords(context.Background(), "logs", []Record{{Key: []byte("k"), Data: []byte("two")}}, res); err != nil || res[0] != nil {
		t.Fatal(err, res[0])
	}
	if got := readStream(t, s, "logs"); strings.Join(got, ",") != "one,two" || dials != 2 {
		t.Fatalf("the stream holds %q after %d dials", got, dials)
	}
}
