package kinesis

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
)

// wantKMSDenied checks that err is KMSAccessDeniedException with exactly msg.
func wantKMSDenied(t *testing.T, err error, msg string) {
	t.Helper()
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if !errorsAs(err, &ae) || ae.ErrorCode() != string(CodeKMSAccessDenied) {
		t.Fatalf("err = %v; want KMSAccessDeniedException", err)
	}
	if ae.ErrorMessage() != msg {
		t.Fatalf("KMSAccessDeniedException message\n %q\nwant\n %q", ae.ErrorMessage(), msg)
	}
	var re interface{ HTTPStatusCode() int }
	if errorsAs(err, &re) && re.HTTPStatusCode() != http.StatusBadRequest {
		t.Fatalf("KMSAccessDeniedException with HTTP status %d; want 400", re.HTTPStatusCode())
	}
}

// wantCode checks that err is an error with the given code.
func wantCode(t *testing.T, err error, code ErrorCode) {
	t.Helper()
	var ae interface{ ErrorCode() string }
	if !errorsAs(err, &ae) || ae.ErrorCode() != string(code) {
		t.Fatalf("err = %v; want %s", err, code)
	}
}

// TestAuthorize_KeyPermissions: on a stream encrypted under a key of its
// own, writing needs kms:GenerateDataKey and reading kms:Decrypt on that
// key besides the kinesis action, and starting encryption kms:DescribeKey,
// as on Kinesis; a plaintext stream needs no key permission, and nor does
// the default key alias/aws/kinesis.
func TestAuthorize_KeyPermissions(t *testing.T) {
	streams := `"Resource": "arn:aws:kinesis:*:*:stream/orders-*"`
	grant := func(action string) string {
		return `{"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:SubscribeToShard"], ` + streams + `},
			{"Effect": "Allow", "Action": "` + action + `", "Resource": "arn:aws:kms:*:*:key/*"}]}`
	}
	e := newAuthEnv(t, "123456789012", map[string]string{
		"keyadmin":    `{"Statement": [{"Effect": "Allow", "Action": ["kinesis:*", "kms:*"], "Resource": "*"}]}`,
		"admin":       adminPolicy,
		"producer":    `{"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], ` + streams + `}]}`,
		"consumer":    `{"Statement": [{"Effect": "Allow", "Action": ["kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:SubscribeToShard"], ` + streams + `}]}`,
		"producerkms": grant("kms:GenerateDataKey"),
		"consumerkms": grant("kms:Decrypt"),
	})
	keys := e.eng.Keys()
	key, err := keys.CreateKey("orders")
	if err != nil {
		t.Fatal(err)
	}

	e.create(t, "orders-plain", "orders-sealed", "orders-default")
	admin, keyadmin := e.clients["admin"], e.clients["keyadmin"]
	// kinesis:* alone may not start encryption under a key of one's own.
	_, err = admin.StartStreamEncryption(bg, &sdk.StartStreamEncryptionInput{StreamName: aws.String("orders-sealed"),
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String(key.KeyID)})
	wantKMSDenied(t, err, e.denied("admin", "kms:DescribeKey", key.ARN))
	if _, err := keyadmin.StartStreamEncryption(bg, &sdk.StartStreamEncryptionInput{StreamName: aws.String("orders-sealed"),
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String(key.KeyID)}); err != nil {
		t.Fatal(err)
	}
	// The default key needs no key permission.
	if _, err := admin.StartStreamEncryption(bg, &sdk.StartStreamEncryptionInput{StreamName: aws.String("orders-default"),
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String(kms.DefaultAlias)}); err != nil {
		t.Fatalf("StartStreamEncryption under the default key with kinesis:* alone: %v", err)
	}

	producer, producerKMS := e.clients["producer"], e.clients["producerkms"]
	for _, stream := range []string{"orders-plain", "orders-default"} {
		if err := putOne(producer, stream, "p"); err != nil {
			t.Fatalf("PutRecords to %s without key permissions: %v", stream, err)
		}
	}
	err = putOne(producer, "orders-sealed", "refused")
	wantKMSDenied(t, err, e.denied("producer", "kms:GenerateDataKey", key.ARN))
	_, err = producer.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("orders-sealed"), Data: []byte("refused"), PartitionKey: aws.String("k")})
	wantKMSDenied(t, err, e.denied("producer", "kms:GenerateDataKey", key.ARN))
	if err := putOne(producerKMS, "orders-sealed", "sealed-1"); err != nil {
		t.Fatalf("PutRecords with kms:GenerateDataKey: %v", err)
	}
	if _, err := producerKMS.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("orders-sealed"), Data: []byte("sealed-2"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatalf("PutRecord with kms:GenerateDataKey: %v", err)
	}

	read := func(c *sdk.Client, stream string) ([]string, error) {
		it, err := c.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"),
			ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			return nil, err
		}
		out, err := c.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			return nil, err
		}
		var got []string
		for _, r := range out.Records {
			got = append(got, string(r.Data))
		}
		return got, nil
	}
	consumer, consumerKMS := e.clients["consumer"], e.clients["consumerkms"]
	for _, stream := range []string{"orders-plain", "orders-default"} {
		if got, err := read(consumer, stream); err != nil || len(got) != 1 {
			t.Fatalf("GetRecords of %s without key permissions: %v %v", stream, got, err)
		}
	}
	_, err = read(consumer, "orders-sealed")
	wantKMSDenied(t, err, e.denied("consumer", "kms:Decrypt", key.ARN))
	// kms:GenerateDataKey does not let one read.
	_, err = read(producerKMS, "orders-sealed")
	wantKMSDenied(t, err, e.denied("producerkms", "kms:Decrypt", key.ARN))
	got, err := read(consumerKMS, "orders-sealed")
	if err != nil || len(got) != 2 || got[0] != "sealed-1" || got[1] != "sealed-2" {
		t.Fatalf("GetRecords with kms:Decrypt: %v %v; want [sealed-1 sealed-2]", got, err)
	}

	reg, err := keyadmin.RegisterStreamConsumer(bg, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(e.streamARN("orders-sealed")), ConsumerName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	subscribe := func(c *sdk.Client) error {
		out, err := c.SubscribeToShard(bg, &sdk.SubscribeToShardInput{ConsumerARN: reg.Consumer.ConsumerARN,
			ShardId: aws.String("shardId-000000000000"), StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeTrimHorizon}})
		if err == nil {
			out.GetStream().Close()
		}
		return err
	}
	wantKMSDenied(t, subscribe(consumer), e.denied("consumer", "kms:Decrypt", key.ARN))
	if err := subscribe(consumerKMS); err != nil {
		t.Fatalf("SubscribeToShard with kms:Decrypt: %v", err)
	}

	// Once the stream is written in the clear again, its writers need no
	// key permission.
	if _, err := keyadmin.StopStreamEncryption(bg, &sdk.StopStreamEncryptionInput{StreamName: aws.String("orders-sealed"),
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String(key.KeyID)}); err != nil {
		t.Fatal(err)
	}
	if err := putOne(producer, "orders-sealed", "clear"); err != nil {
		t.Fatalf("PutRecords after StopStreamEncryption: %v", err)
	}
}

// TestKMSErrors_KinesisNames: the key service's refusals reach the SDK under
// Kinesis' names: a missing key is KMSNotFoundException, a disabled one
// KMSDisabledException, for StartStreamEncryption and for puts.
func TestKMSErrors_KinesisNames(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.client
	if _, err := c.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	start := func(keyID string) error {
		_, err := c.StartStreamEncryption(bg, &sdk.StartStreamEncryptionInput{StreamName: aws.String("s"),
			EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String(keyID)})
		return err
	}
	err := start("0e9a1c3e-54f8-4f6e-9b7a-1d2c3b4a5f60")
	var nf *sdktypes.KMSNotFoundException
	if !errorsAs(err, &nf) {
		t.Fatalf("StartStreamEncryption with a missing key: %v; want KMSNotFoundException", err)
	}
	wantCode(t, start("alias/nothing"), CodeKMSNotFound)

	keys := e.eng.Keys()
	key, err := keys.CreateKey("k")
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.DisableKey(key.KeyID); err != nil {
		t.Fatal(err)
	}
	err = start(key.ARN)
	var dis *sdktypes.KMSDisabledException
	if !errorsAs(err, &dis) {
		t.Fatalf("StartStreamEncryption with a disabled key: %v; want KMSDisabledException", err)
	}
	if err := keys.EnableKey(key.KeyID); err != nil {
		t.Fatal(err)
	}
	if err := start(key.ARN); err != nil {
		t.Fatal(err)
	}
	if err := putOne(c, "s", "x"); err != nil {
		t.Fatal(err)
	}
	if err := keys.DisableKey(key.KeyID); err != nil {
		t.Fatal(err)
	}
	err = putOne(c, "s", "y")
	if !errorsAs(err, &dis) {
		t.Fatalf("PutRecords under a disabled key: %v; want KMSDisabledException", err)
	}
	_, err = c.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("z"), PartitionKey: aws.String("k")})
	if !errorsAs(err, &dis) {
		t.Fatalf("PutRecord under a disabled key: %v; want KMSDisabledException", err)
	}
}

// throttledKeys is a key service whose GenerateDataKey is refused as
// KMSThrottlingException: the batch a put lands in fails for the key after
// the call's own look at the key succeeded.
type throttledKeys struct{ kms.KeyService }

func (throttledKeys) GenerateDataKey(string) (kms.DataKey, error) {
	return kms.DataKey{}, api.Errorf(api.CodeKMSThrottling, "the key service is busy; retry")
}

// TestPutRecords_EntryFailedForTheKey: a PutRecords entry that the key
// service failed carries the KMS error's name, not InternalFailure.
func TestPutRecords_EntryFailedForTheKey(t *testing.T) {
	keys, err := kms.Open(t.TempDir(), kms.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	q := ratelimit.Unlimited
	eng, err := engine.Open(engine.Options{Dir: t.TempDir(), Quotas: &q, Durability: api.None, Keys: throttledKeys{keys},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := eng.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(eng, Options{IteratorKey: bytes.Repeat([]byte{7}, 32), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	out, err := sdkClient(srv.URL, nil).PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{
		{Data: []byte("a"), PartitionKey: aws.String("k")}, {Data: []byte("b"), PartitionKey: aws.String("k")}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 2 {
		t.Fatalf("FailedRecordCount %d; want 2", aws.ToInt32(out.FailedRecordCount))
	}
	for i, r := range out.Records {
		if aws.ToString(r.ErrorCode) != string(CodeKMSThrottling) || !strings.Contains(aws.ToString(r.ErrorMessage), "retry") {
			t.Fatalf("entry %d: %q %q; want KMSThrottlingException with the key service's message", i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
		}
	}
}
