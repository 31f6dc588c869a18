package wireserver

import (
	"bytes"
	"context"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/wire"
)

// kmsEnv is a server with a key service; with users set, it requires
// authentication with that users file.
func kmsEnv(t *testing.T, users string) *testEnv {
	t.Helper()
	keys, err := kms.Open(t.TempDir(), kms.Options{Create: true, Region: "us-east-1", Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	var store *auth.Store
	if users != "" {
		u, err := auth.ParseUsers([]byte(users))
		if err != nil {
			t.Fatal(err)
		}
		store = auth.NewStore(u)
	}
	return startEnv(t, func(eo *engine.Options, so *ServerOptions) {
		eo.Keys = keys
		so.Auth, so.Account = store, "123456789012"
	}, nil)
}

// readAll reads every record of stream's only shard from the start.
func readAll(t *testing.T, c *client.Client, stream string) ([]string, error) {
	t.Helper()
	ctx := testCtx(t)
	pos, err := c.GetIterator(ctx, stream, api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		return nil, err
	}
	var got []string
	for {
		res, err := c.Read(ctx, pos, 0, 0)
		if err != nil {
			return got, err
		}
		if len(res.Records) == 0 {
			return got, nil
		}
		for _, r := range res.Records {
			got = append(got, string(r.Data))
		}
		pos = res.Next
	}
}

// TestKMS_KeyOperations: the key service's operations over the binary
// protocol, and their effect on an encrypted stream: rotation and rewrap
// keep every record readable, a disabled key refuses puts with
// KMSDisabledException until it is enabled again.
func TestKMS_KeyOperations(t *testing.T) {
	env := kmsEnv(t, "")
	c := env.dial(client.ClientOptions{})
	ctx := testCtx(t)
	env.createStream(c, "s", 1)

	key, err := c.CreateKey(ctx, "orders at rest", "alias/orders")
	if err != nil {
		t.Fatal(err)
	}
	if key.KeyID == "" || key.ARN != "arn:aws:kms:us-east-1:123456789012:key/"+key.KeyID || key.Description != "orders at rest" ||
		!key.Enabled || key.Version != 1 || key.Created.IsZero() {
		t.Fatalf("CreateKey gave %+v", key)
	}
	for _, name := range []string{key.KeyID, key.ARN, "alias/orders", "arn:aws:kms:us-east-1:123456789012:alias/orders"} {
		got, err := c.DescribeKey(ctx, name)
		if err != nil || got.KeyID != key.KeyID {
			t.Fatalf("DescribeKey %s: %+v %v", name, got, err)
		}
	}
	_, err = c.DescribeKey(ctx, "alias/none")
	wantWireError(t, err, "KMSNotFoundException", "alias/none")
	if err := c.CreateAlias(ctx, "alias/second", key.ARN); err != nil {
		t.Fatal(err)
	}
	aliases, err := c.ListAliases(ctx)
	if err != nil || len(aliases) != 2 || aliases[0].Name != "alias/orders" || aliases[1].Name != "alias/second" || aliases[1].KeyID != key.KeyID ||
		aliases[1].ARN != "arn:aws:kms:us-east-1:123456789012:alias/second" {
		t.Fatalf("ListAliases: %+v %v", aliases, err)
	}
	other, err := c.CreateKey(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.CreateAlias(ctx, "alias/orders", other.KeyID)
	wantWireError(t, err, "ResourceInUseException", "alias/orders")
	// CreateKey under a taken or reserved alias makes no key.
	before, err := c.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateKey(ctx, "", "alias/orders")
	wantWireError(t, err, "ResourceInUseException", "no key was created")
	_, err = c.CreateKey(ctx, "", "alias/aws/mine")
	wantWireError(t, err, "InvalidArgumentException", "reserved")
	if after, err := c.ListKeys(ctx); err != nil || len(after) != len(before) {
		t.Fatalf("refused CreateKeys left %d keys (were %d): %v", len(after), len(before), err)
	}
	keys, err := c.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].KeyID != key.KeyID || keys[1].KeyID != other.KeyID {
		t.Fatalf("ListKeys: %+v %v", keys, err)
	}

	if err := c.StartStreamEncryption(ctx, "s", "alias/orders"); err != nil {
		t.Fatal(err)
	}
	info, err := c.DescribeStream(ctx, "s")
	if err != nil || info.EncryptionType != "KMS" || info.KeyID != "alias/orders" {
		t.Fatalf("stream after StartStreamEncryption: %+v %v", info, err)
	}
	if _, err := c.PutRecord(ctx, "s", api.PutRecord{Key: []byte("k"), Data: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	rotated, err := c.RotateKey(ctx, "alias/orders")
	if err != nil || rotated.Version != 2 || !rotated.Rotated.After(rotated.Created) && !rotated.Rotated.Equal(rotated.Created) {
		t.Fatalf("RotateKey: %+v %v", rotated, err)
	}
	if _, err := c.PutRecord(ctx, "s", api.PutRecord{Key: []byte("k"), Data: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Rewrap(ctx, "")
	if err != nil || rep.Shards != 1 || rep.Segments < 1 {
		t.Fatalf("Rewrap: %+v %v; want one shard, a segment rewrapped", rep, err)
	}
	if got, err := readAll(t, c, "s"); err != nil || len(got) != 2 || got[0] != "v1" || got[1] != "v2" {
		t.Fatalf("records after rotation and rewrap: %q %v", got, err)
	}
	_, err = c.Rewrap(ctx, "nothing")
	wantWireError(t, err, "ResourceNotFoundException", "nothing")

	if err := c.DisableKey(ctx, key.KeyID); err != nil {
		t.Fatal(err)
	}
	if k, err := c.DescribeKey(ctx, key.KeyID); err != nil || k.Enabled {
		t.Fatalf("key after DisableKey: %+v %v", k, err)
	}
	_, err = c.PutRecord(ctx, "s", api.PutRecord{Key: []byte("k"), Data: []byte("refused")})
	wantWireError(t, err, "KMSDisabledException", key.ARN)
	_, err = c.PutRecords(ctx, "s", oneRecord(), make([]api.PutResult, 1))
	wantWireError(t, err, "KMSDisabledException", key.ARN)
	_, err = readAll(t, c, "s")
	wantWireError(t, err, "KMSDisabledException", key.ARN)
	if err := c.EnableKey(ctx, key.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecord(ctx, "s", api.PutRecord{Key: []byte("k"), Data: []byte("v3")}); err != nil {
		t.Fatal(err)
	}
	if err := c.StopStreamEncryption(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if info, err := c.DescribeStream(ctx, "s"); err != nil || info.EncryptionType != "NONE" {
		t.Fatalf("stream after StopStreamEncryption: %+v %v", info, err)
	}
	if got, err := readAll(t, c, "s"); err != nil || len(got) != 3 || got[2] != "v3" {
		t.Fatalf("records: %q %v", got, err)
	}
	err = c.StartStreamEncryption(ctx, "s", "0e9a1c3e-54f8-4f6e-9b7a-1d2c3b4a5f60")
	wantWireError(t, err, "KMSNotFoundException", "0e9a1c3e-54f8-4f6e-9b7a-1d2c3b4a5f60")
}

// kmsUsers: keyadmin may do anything; admin any kinesis: action but no key
// action; the producers may put to orders-*, the consumers read them, the
// *kms ones holding the key permission too.
const kmsUsers = `{"account": "123456789012", "users": [
 {"name": "keyadmin", "access_key_id": "AKIAKEYADMIN00000001", "secret_access_key": "keyadmin-secret-0123456789",
  "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:*", "kms:*", "sluice:*"], "Resource": "*"}]}},
 {"name": "admin", "access_key_id": "AKIAADMIN00000000001", "secret_access_key": "admin-secret-0123456789",
  "policy": {"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}},
 {"name": "producer", "access_key_id": "AKIAPRODUCER00000001", "secret_access_key": "producer-secret-0123456789",
  "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}},
 {"name": "producerkms", "access_key_id": "AKIAPRODUCERKMS00001", "secret_access_key": "producerkms-secret-0123456789",
  "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"},
   {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "arn:aws:kms:*:*:key/*"}]}},
 {"name": "consumer", "access_key_id": "AKIACONSUMER00000001", "secret_access_key": "consumer-secret-0123456789",
  "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:SubscribeToShard"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}},
 {"name": "consumerkms", "access_key_id": "AKIACONSUMERKMS00001", "secret_access_key": "consumerkms-secret-0123456789",
  "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:SubscribeToShard"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"},
   {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:*:key/*"}]}}]}`

func kmsUser(name string) *client.Credentials {
	keys := map[string]string{"keyadmin": "AKIAKEYADMIN00000001", "admin": "AKIAADMIN00000000001", "producer": "AKIAPRODUCER00000001",
		"producerkms": "AKIAPRODUCERKMS00001", "consumer": "AKIACONSUMER00000001", "consumerkms": "AKIACONSUMERKMS00001"}
	return &client.Credentials{AccessKeyID: keys[name], SecretAccessKey: name + "-secret-0123456789"}
}

// kmsDenied is auth's refusal of user action on resource.
func kmsDenied(user, action, resource string) string {
	return "User: arn:aws:iam::123456789012:user/" + user + " is not authorized to perform: " + action + " on resource: " + resource +
		" because no identity-based policy allows the " + action + " action"
}

// TestKMS_KeyPermissions: on a stream encrypted under a key of its own,
// putting needs kms:GenerateDataKey and reading (Read, Subscribe)
// kms:Decrypt on the key, refused as KMSAccessDeniedException; a plaintext
// stream, or one under the default key, needs neither. The key operations
// are authorized as their IAM actions on the key.
func TestKMS_KeyPermissions(t *testing.T) {
	env := kmsEnv(t, kmsUsers)
	ctx := testCtx(t)
	keyadmin := env.dial(client.ClientOptions{Credentials: kmsUser("keyadmin")})
	admin := env.dial(client.ClientOptions{Credentials: kmsUser("admin")})
	for _, s := range []string{"orders-plain", "orders-sealed", "orders-default"} {
		env.createStream(keyadmin, s, 1)
	}
	_, err := admin.CreateKey(ctx, "", "")
	wantWireError(t, err, "AccessDeniedException", kmsDenied("admin", "kms:CreateKey", "*"))
	_, err = admin.ListKeys(ctx)
	wantWireError(t, err, "AccessDeniedException", kmsDenied("admin", "kms:ListKeys", "*"))
	key, err := keyadmin.CreateKey(ctx, "orders", "alias/orders")
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.DescribeKey(ctx, "alias/orders")
	wantWireError(t, err, "AccessDeniedException", kmsDenied("admin", "kms:DescribeKey", key.ARN))
	_, err = admin.RotateKey(ctx, key.KeyID)
	wantWireError(t, err, "AccessDeniedException", kmsDenied("admin", "sluice:RotateKey", key.ARN))
	err = admin.DisableKey(ctx, key.KeyID)
	wantWireError(t, err, "AccessDeniedException", kmsDenied("admin", "kms:DisableKey", key.ARN))
	_, err = admin.Rewrap(ctx, "")
	wantWireError(t, err, "AccessDeniedException", kmsDenied("admin", "sluice:RewrapDataKeys", "*"))
	_, err = admin.DescribeKey(ctx, "alias/none")
	wantWireError(t, err, "AccessDeniedException", kmsDenied("admin", "kms:DescribeKey", "arn:aws:kms:us-east-1:123456789012:alias/none"))

	// Starting encryption needs kms:DescribeKey on the key, but not on the
	// default key.
	err = admin.StartStreamEncryption(ctx, "orders-sealed", "alias/orders")
	wantWireError(t, err, "KMSAccessDeniedException", kmsDenied("admin", "kms:DescribeKey", key.ARN))
	if err := keyadmin.StartStreamEncryption(ctx, "orders-sealed", "alias/orders"); err != nil {
		t.Fatal(err)
	}
	if err := admin.StartStreamEncryption(ctx, "orders-default", kms.DefaultAlias); err != nil {
		t.Fatalf("StartStreamEncryption under the default key with kinesis:* alone: %v", err)
	}

	producer := env.dial(client.ClientOptions{Credentials: kmsUser("producer")})
	producerKMS := env.dial(client.ClientOptions{Credentials: kmsUser("producerkms")})
	res := make([]api.PutResult, 1)
	for _, s := range []string{"orders-plain", "orders-default"} {
		if _, err := producer.PutRecords(ctx, s, oneRecord(), res); err != nil {
			t.Fatalf("PutRecords to %s without key permissions: %v", s, err)
		}
	}
	_, err = producer.PutRecords(ctx, "orders-sealed", oneRecord(), res)
	wantWireError(t, err, "KMSAccessDeniedException", kmsDenied("producer", "kms:GenerateDataKey", key.ARN))
	_, err = producer.PutRecord(ctx, "orders-sealed", oneRecord()[0])
	wantWireError(t, err, "KMSAccessDeniedException", kmsDenied("producer", "kms:GenerateDataKey", key.ARN))
	if _, err := producerKMS.PutRecords(ctx, "orders-sealed", oneRecord(), res); err != nil {
		t.Fatalf("PutRecords with kms:GenerateDataKey: %v", err)
	}
	if _, err := producerKMS.PutRecord(ctx, "orders-sealed", oneRecord()[0]); err != nil {
		t.Fatalf("PutRecord with kms:GenerateDataKey: %v", err)
	}

	consumer := env.dial(client.ClientOptions{Credentials: kmsUser("consumer")})
	consumerKMS := env.dial(client.ClientOptions{Credentials: kmsUser("consumerkms")})
	for _, s := range []string{"orders-plain", "orders-default"} {
		if got, err := readAll(t, consumer, s); err != nil || len(got) != 1 {
			t.Fatalf("Read of %s without key permissions: %q %v", s, got, err)
		}
	}
	_, err = readAll(t, consumer, "orders-sealed")
	wantWireError(t, err, "KMSAccessDeniedException", kmsDenied("consumer", "kms:Decrypt", key.ARN))
	pos, err := consumer.GetIterator(ctx, "orders-sealed", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := consumer.Subscribe(ctx, pos, client.SubscribeOptions{})
	if err == nil {
		_, err = sub.Next(ctx)
		sub.Close()
	}
	wantWireError(t, err, "KMSAccessDeniedException", kmsDenied("consumer", "kms:Decrypt", key.ARN))
	if got, err := readAll(t, consumerKMS, "orders-sealed"); err != nil || len(got) != 2 {
		t.Fatalf("Read with kms:Decrypt: %q %v", got, err)
	}
	sub, err = consumerKMS.Subscribe(ctx, pos, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := sub.Next(ctx)
	sub.Close()
	if err != nil || len(ev.Records) == 0 {
		t.Fatalf("Subscribe with kms:Decrypt: %+v %v", ev, err)
	}

	// Written in the clear again, the stream needs no key permission.
	if err := keyadmin.StopStreamEncryption(ctx, "orders-sealed"); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.PutRecords(ctx, "orders-sealed", oneRecord(), res); err != nil {
		t.Fatalf("PutRecords after StopStreamEncryption: %v", err)
	}
}

// TestKMS_AllowedKeyCheckDoesNotAllocate: judging the key permission of a
// put to an encrypted stream allocates nothing when it allows.
func TestKMS_AllowedKeyCheckDoesNotAllocate(t *testing.T) {
	env := kmsEnv(t, kmsUsers)
	keyadmin := env.dial(client.ClientOptions{Credentials: kmsUser("keyadmin")})
	env.createStream(keyadmin, "orders-1", 1)
	ctx := context.Background()
	key, err := keyadmin.CreateKey(ctx, "", "alias/orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := keyadmin.StartStreamEncryption(ctx, "orders-1", key.KeyID); err != nil {
		t.Fatal(err)
	}
	c := newConn(env.srv, &memConn{in: bytes.NewReader(nil)})
	c.user = env.srv.opts.Auth.Lookup(kmsUser("producerkms").AccessKeyID)
	name := []byte("orders-1")
	judge := func() *wire.Error {
		if _, e := c.authorize("kinesis:PutRecords", name); e != nil {
			return e
		}
		return c.authorizeStreamKey(wire.OpPutRecords, nil)
	}
	if e := judge(); e != nil {
		t.Fatal(e)
	}
	if n := testing.AllocsPerRun(100, func() { judge() }); n != 0 {
		t.Errorf("an allowed put to an encrypted stream allocates %v times to judge; want 0", n)
	}
	c = newConn(env.srv, &memConn{in: bytes.NewReader(nil)})
	c.user = env.srv.opts.Auth.Lookup(kmsUser("producer").AccessKeyID)
	if e := judge(); e == nil || e.Name != "KMSAccessDeniedException" {
		t.Fatalf("a producer without the key permission: %v; want KMSAccessDeniedException", e)
	}
}
