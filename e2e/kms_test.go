//go:build unix

package e2e

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/internal/awshttp"
	"github.com/sluicedb/sluice/kms"
)

// sdkClient is an unmodified Kinesis SDK client of s's HTTP door.
func sdkClient(s *server) *sdk.Client {
	return sdk.New(sdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.httpAddr),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDE2E", "secret", ""), Retryer: aws.NopRetryer{},
		HTTPClient: awshttp.HTTPClient(),
	})
}

// scanFor returns the files under dir whose bytes contain marker.
func scanFor(t *testing.T, dir string, marker []byte) (found []string, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, marker) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, files
}

// TestEndToEnd_EncryptionAtRest: a stream encrypted with
// StartStreamEncryption through the SDK, under a key made with sluice kms,
// takes a marker as partition key and data through both doors; after kill
// -9 and a restart, both doors and the SDK read the marker back (the SDK
// seeing EncryptionType KMS on every record), and no file under the data
// directory, the keyring included, holds it.
func TestEndToEnd_EncryptionAtRest(t *testing.T) {
	bin := build(t)
	t.Setenv(kms.PassphraseEnv, "e2e keyring passphrase")
	dataDir := t.TempDir()
	srv := startServer(t, bin, dataDir)
	ctx := context.Background()
	c := sdkClient(srv)
	stream := aws.String("vault")
	if _, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: stream, ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	mustSluice(t, bin, srv, nil, "kms", "create", "--description", "e2e", "--alias", "alias/e2e")
	if _, err := c.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{StreamName: stream,
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String("alias/e2e")}); err != nil {
		t.Fatalf("StartStreamEncryption through the SDK: %v", err)
	}
	const marker = "sluice-e2e-marker-b61f0c2d"
	httpData, wireData := marker+"-http-data", marker+"-wire-data"
	put, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: stream, Data: []byte(httpData), PartitionKey: aws.String(marker + "-http-key")})
	if err != nil {
		t.Fatal(err)
	}
	if put.EncryptionType != sdktypes.EncryptionTypeKms {
		t.Fatalf("PutRecord reported EncryptionType %q; want KMS", put.EncryptionType)
	}
	mustSluice(t, bin, srv, []byte(wireData+"\n"), "put", "vault", "--key", marker+"-wire-key")
	// A control: the same scan finds a record of a plaintext stream.
	const control = "sluice-e2e-control-4e9a"
	mustSluice(t, bin, srv, nil, "stream", "create", "plain", "--shards", "1")
	mustSluice(t, bin, srv, []byte(control+"\n"), "put", "plain")

	if err := srv.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("sluiced exited cleanly on SIGKILL")
	}
	srv = startServer(t, bin, dataDir)
	c = sdkClient(srv)

	// The binary door (the CLI).
	recs := getAll(t, bin, srv, "vault")
	if len(recs) != 2 || recs[0].Key != marker+"-http-key" || string(recs[0].data) != httpData ||
		recs[1].Key != marker+"-wire-key" || string(recs[1].data) != wireData {
		t.Fatalf("records read through the binary protocol after kill -9: %+v", recs)
	}
	// The HTTP door (the SDK).
	it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: stream, ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 2 {
		t.Fatalf("GetRecords after kill -9: %d records; want 2", len(out.Records))
	}
	for i, want := range [][2]string{{marker + "-http-key", httpData}, {marker + "-wire-key", wireData}} {
		r := out.Records[i]
		if aws.ToString(r.PartitionKey) != want[0] || string(r.Data) != want[1] || r.EncryptionType != sdktypes.EncryptionTypeKms {
			t.Fatalf("GetRecords record %d: key %q data %q encryption %q; want %q %q KMS",
				i, aws.ToString(r.PartitionKey), r.Data, r.EncryptionType, want[0], want[1])
		}
	}
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("sluiced on SIGTERM: %v", err)
	}

	if found, _ := scanFor(t, dataDir, []byte(control)); len(found) == 0 {
		t.Fatal("the scan does not find the plaintext stream's record either: it proves nothing")
	}
	found, files := scanFor(t, dataDir, []byte(marker))
	if len(found) != 0 {
		t.Fatalf("the marker is stored in the clear in %q", found)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "kms", kms.KeyringFile)); err != nil {
		t.Fatalf("no keyring in DATA_DIR/kms: %v", err)
	}
	t.Logf("scanned %d files under the data directory: no marker", files)
}

// runRefused runs sluiced on dataDir with env added and extra flags, and
// returns its stderr once it exits (it must exit, and with status 1).
func runRefused(t *testing.T, bin binaries, dataDir string, env []string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, extra...)
	cmd := exec.CommandContext(ctx, bin.sluiced, args...)
	cmd.Env = append(os.Environ(), env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("sluiced %q: %v; want it to refuse to start with exit status 1\n%s", args, err, errb.String())
	}
	return errb.String()
}

// TestEndToEnd_KeyringRefusesStart: once a stream is encrypted, sluiced
// starts only with its keyring and that keyring's passphrase: a wrong or
// missing passphrase, or a keyring not where --kms-keys says, refuses to
// start with a message saying what to do.
func TestEndToEnd_KeyringRefusesStart(t *testing.T) {
	bin := build(t)
	t.Setenv(kms.PassphraseEnv, "the right passphrase")
	dataDir := t.TempDir()
	srv := startServer(t, bin, dataDir)
	mustSluice(t, bin, srv, nil, "stream", "create", "s", "--shards", "1")
	mustSluice(t, bin, srv, nil, "stream", "encrypt", "s")
	mustSluice(t, bin, srv, []byte("sealed\n"), "put", "s")
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, passphrase string
		want             []string
	}{
		{"wrong passphrase", "not the passphrase", []string{"wrong passphrase", "sealed with another passphrase", kms.PassphraseEnv}},
		{"no passphrase", "", []string{"sealed with a passphrase", "set " + kms.PassphraseEnv}},
	} {
		msg := runRefused(t, bin, dataDir, []string{kms.PassphraseEnv + "=" + tc.passphrase})
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Fatalf("%s: sluiced said %q; want it to say %q", tc.name, msg, w)
			}
		}
	}
	moved := filepath.Join(t.TempDir(), "keys")
	if err := os.Rename(filepath.Join(dataDir, "kms"), moved); err != nil {
		t.Fatal(err)
	}
	msg := runRefused(t, bin, dataDir, nil)
	for _, w := range []string{"no keyring", filepath.Join(dataDir, "kms", kms.KeyringFile), "--kms-keys"} {
		if !strings.Contains(msg, w) {
			t.Fatalf("missing keyring: sluiced said %q; want it to say %q", msg, w)
		}
	}

	srv = startServer(t, bin, dataDir, "--kms-keys", moved)
	if recs := getAll(t, bin, srv, "s"); len(recs) != 1 || string(recs[0].data) != "sealed" {
		t.Fatalf("records with the keyring at --kms-keys: %+v", recs)
	}
}

// TestEndToEnd_KeyPermissions: with --auth, a user who may put to every
// stream but holds no kms:GenerateDataKey is refused on an encrypted stream
// (KMSAccessDeniedException, through the SDK's signed requests and through
// the CLI's authenticated binary connection) and allowed on a plain one.
func TestEndToEnd_KeyPermissions(t *testing.T) {
	bin := build(t)
	users := filepath.Join(t.TempDir(), "users.json")
	const doc = `{"account": "123456789012", "users": [
	 {"name": "keyadmin", "access_key_id": "AKIAKEYADMIN0000E2E1", "secret_access_key": "keyadmin-secret-0123456789",
	  "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:*", "kms:*", "sluice:*"], "Resource": "*"}]}},
	 {"name": "producer", "access_key_id": "AKIAPRODUCER0000E2E1", "secret_access_key": "producer-secret-0123456789",
	  "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream*"], "Resource": "*"}]}}]}`
	if err := os.WriteFile(users, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, t.TempDir(), "--auth", users)
	ctx := context.Background()
	client := func(key, secret string) *sdk.Client {
		return sdk.New(sdk.Options{
			Region: "us-east-1", BaseEndpoint: aws.String("http://" + srv.httpAddr),
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), Retryer: aws.NopRetryer{},
			HTTPClient: awshttp.HTTPClient(),
		})
	}
	admin := client("AKIAKEYADMIN0000E2E1", "keyadmin-secret-0123456789")
	producer := client("AKIAPRODUCER0000E2E1", "producer-secret-0123456789")
	as := func(key, secret string) []string { return []string{"--access-key", key, "--secret-key", secret} }
	adminCLI := as("AKIAKEYADMIN0000E2E1", "keyadmin-secret-0123456789")
	producerCLI := as("AKIAPRODUCER0000E2E1", "producer-secret-0123456789")

	for _, name := range []string{"plain", "sealed"} {
		if _, err := admin.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	mustSluice(t, bin, srv, nil, append(adminCLI, "kms", "create", "--alias", "alias/sealed")...)
	if _, err := admin.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{StreamName: aws.String("sealed"),
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String("alias/sealed")}); err != nil {
		t.Fatal(err)
	}

	put := func(stream string) error {
		_, err := producer.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: aws.String(stream),
			Records: []sdktypes.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("k")}}})
		return err
	}
	if err := put("plain"); err != nil {
		t.Fatalf("SDK PutRecords to the plain stream: %v", err)
	}
	var denied *sdktypes.KMSAccessDeniedException
	if err := put("sealed"); !errors.As(err, &denied) || !strings.Contains(err.Error(), "kms:GenerateDataKey") {
		t.Fatalf("SDK PutRecords to the encrypted stream without kms:GenerateDataKey: %v; want KMSAccessDeniedException", err)
	}
	mustSluice(t, bin, srv, []byte("y\n"), append(producerCLI, "put", "plain")...)
	_, stderr, code := sluice(t, bin, srv, []byte("y\n"), append(producerCLI, "put", "sealed")...)
	if code != 1 || !bytes.Contains(stderr, []byte("KMSAccessDeniedException")) || !bytes.Contains(stderr, []byte("kms:GenerateDataKey")) {
		t.Fatalf("CLI put to the encrypted stream without kms:GenerateDataKey: exit %d, %s", code, stderr)
	}
	// The key administrator (kms:*) puts to it.
	mustSluice(t, bin, srv, []byte("z\n"), append(adminCLI, "put", "sealed")...)
}
