package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/kms"
)

func startKMS(dir, keys, passphrase string) (*Server, error) {
	return Start(Config{
		DataDir: dir, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Quotas: "unlimited",
		KMSKeys: keys, KMSPassphrase: passphrase,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// TestServer_EncryptionWithItsKeyring: a server with no settings encrypts at
// rest (its keyring is created in DATA_DIR/kms); once a stream is encrypted
// it starts again only with that keyring and its passphrase, and reads
// back what was encrypted.
func TestServer_EncryptionWithItsKeyring(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := startKMS(dir, "", "first passphrase")
	if err != nil {
		t.Fatal(err)
	}
	c := kinesisClient(s, nil)
	name := aws.String("secret")
	if _, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: name, ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{StreamName: name,
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String(kms.DefaultAlias)}); err != nil {
		t.Fatalf("StartStreamEncryption through a server with default settings: %v", err)
	}
	put, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: name, Data: []byte("sealed"), PartitionKey: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if put.EncryptionType != sdktypes.EncryptionTypeKms {
		t.Fatalf("PutRecord reports EncryptionType %q; want KMS", put.EncryptionType)
	}
	stop(t, s)
	if fi, err := os.Stat(filepath.Join(dir, "kms", kms.KeyringFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring in DATA_DIR/kms: %v %v; want a 0600 file", fi, err)
	}

	// A wrong passphrase, and a keyring that is not where it is looked for,
	// refuse to start.
	if _, err := startKMS(dir, "", "wrong passphrase"); !errors.Is(err, kms.ErrWrongPassphrase) {
		t.Fatalf("start with a wrong passphrase: %v; want %v", err, kms.ErrWrongPassphrase)
	}
	moved := filepath.Join(t.TempDir(), "keys")
	if err := os.Rename(filepath.Join(dir, "kms"), moved); err != nil {
		t.Fatal(err)
	}
	if _, err := startKMS(dir, "", "first passphrase"); !errors.Is(err, kms.ErrNoKeyring) {
		t.Fatalf("start without the keyring: %v; want %v", err, kms.ErrNoKeyring)
	}
	if _, err := os.Stat(filepath.Join(dir, "kms")); !os.IsNotExist(err) {
		t.Fatalf("a refused start left a keyring directory behind: %v", err)
	}

	// Pointed at the keyring where it now is, the server reads the record.
	s, err = startKMS(dir, moved, "first passphrase")
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, s)
	c = kinesisClient(s, nil)
	it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: name, ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != 1 || string(got.Records[0].Data) != "sealed" || got.Records[0].EncryptionType != sdktypes.EncryptionTypeKms {
		t.Fatalf("records after restart: %+v; want the one sealed record, EncryptionType KMS", got.Records)
	}
}
