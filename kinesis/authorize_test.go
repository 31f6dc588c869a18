package kinesis

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/internal/awshttp"
)

// Policies of the users of the authorization tests: ingest's is the
// example of the issue that asked for authorization.
const (
	ingestPolicy = `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream*",
		 "kinesis:ListShards"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}`
	adminPolicy = `{"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}`
)

// authEnv is a test server authorizing requests as the users of a users
// file, with an SDK client per user and an audit log.
type authEnv struct {
	*testEnv
	account   string
	store     *auth.Store
	clients   map[string]*sdk.Client
	audit     *auth.Audit
	auditPath string
}

// accessKeyOf is the access key id the users file gives user name.
func accessKeyOf(name string) string {
	return "AKIA" + strings.ReplaceAll(strings.ToUpper(fmt.Sprintf("%-16s", name)[:16]), " ", "X")
}

// newAuthEnv starts a server of account whose users are named by policies
// (name to identity policy, "" for none). Requests are authenticated by
// their access key id alone: signatures are checked elsewhere.
func newAuthEnv(t *testing.T, account string, policies map[string]string) *authEnv {
	t.Helper()
	var users []string
	for name, p := range policies {
		if p == "" {
			p = "null"
		}
		key := accessKeyOf(name)
		users = append(users, fmt.Sprintf(`{"name": %q, "access_key_id": %q, "secret_access_key": %q, "policy": %s}`,
			name, key, "secret-of-"+name+"-0123456789", p))
	}
	us, err := auth.ParseUsers([]byte(`{"account": "` + account + `", "users": [` + strings.Join(users, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(us)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	audit, err := auth.OpenAudit(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audit.Close() })
	env := newTestEnv(t, func(c *envConfig) {
		c.opts.Scope = ARNScope{Account: account}
		c.opts.Auth = store
		c.opts.Audit = audit
		c.hooks = func(h *Handler) {
			h.testHookUser = func(r *http.Request) *auth.User {
				a, err := ParseAuth(r)
				if err != nil {
					return nil
				}
				return store.Lookup(a.AccessKeyID)
			}
		}
	})
	ae := &authEnv{testEnv: env, account: account, store: store, clients: map[string]*sdk.Client{}, audit: audit, auditPath: auditPath}
	for name := range policies {
		key := accessKeyOf(name)
		ae.clients[name] = sdk.New(sdk.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(env.srv.URL),
			Credentials:  credentials.NewStaticCredentialsProvider(key, "secret-of-"+name+"-0123456789", ""),
			Retryer:      aws.NopRetryer{},
			HTTPClient:   &http.Client{Transport: awshttp.CopyBodyTransport{Next: http.DefaultTransport.(*http.Transport).Clone()}},
		})
	}
	return ae
}

func (e *authEnv) userARN(name string) string { return "arn:aws:iam::" + e.account + ":user/" + name }

func (e *authEnv) streamARN(name string) string {
	return ARNScope{Account: e.account}.StreamARN(name)
}

// denied is AWS's message refusing user action on resource for want of an
// allowing identity policy.
func (e *authEnv) denied(user, action, resource string) string {
	return "User: " + e.userARN(user) + " is not authorized to perform: " + action + " on resource: " + resource +
		" because no identity-based policy allows the " + action + " action"
}

// wantDenied checks that err is AccessDeniedException with exactly msg.
func wantDenied(t *testing.T, err error, msg string) {
	t.Helper()
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if !errorsAs(err, &ae) || ae.ErrorCode() != string(CodeAccessDenied) {
		t.Fatalf("err = %v; want AccessDeniedException", err)
	}
	if ae.ErrorMessage() != msg {
		t.Fatalf("AccessDeniedException message\n %q\nwant\n %q", ae.ErrorMessage(), msg)
	}
	var re interface{ HTTPStatusCode() int }
	if errorsAs(err, &re) && re.HTTPStatusCode() != http.StatusBadRequest {
		t.Fatalf("AccessDeniedException with HTTP status %d; AWS answers 400", re.HTTPStatusCode())
	}
}

func putOne(c *sdk.Client, stream, data string) error {
	_, err := c.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String(stream), Records: []sdktypes.PutRecordsRequestEntry{
		{Data: []byte(data), PartitionKey: aws.String("k")},
	}})
	return err
}

// records reads stream's only shard from the start as admin.
func (e *authEnv) records(t *testing.T, stream string) []string {
	t.Helper()
	admin := e.clients["admin"]
	it, err := admin.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := admin.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out.Records {
		got = append(got, string(r.Data))
	}
	return got
}

func (e *authEnv) create(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := e.clients["admin"].CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatalf("CreateStream %s: %v", name, err)
		}
	}
}

// TestAuthorize_IngestPolicy: the ingest user puts to orders-*, and
// everything else it tries is refused in AWS's words, without effect.
func TestAuthorize_IngestPolicy(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"ingest": ingestPolicy, "admin": adminPolicy})
	e.create(t, "orders-1", "payments")
	ingest := e.clients["ingest"]

	if err := putOne(ingest, "orders-1", "a"); err != nil {
		t.Fatalf("ingest PutRecords to orders-1: %v", err)
	}
	if _, err := ingest.PutRecord(bg, &sdk.PutRecordInput{StreamARN: aws.String(e.streamARN("orders-1")), Data: []byte("b"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatalf("ingest PutRecord to orders-1: %v", err)
	}
	if _, err := ingest.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders-1")}); err != nil {
		t.Fatalf("ingest DescribeStreamSummary of orders-1: %v", err)
	}
	if _, err := ingest.ListShards(bg, &sdk.ListShardsInput{StreamName: aws.String("orders-1")}); err != nil {
		t.Fatalf("ingest ListShards of orders-1: %v", err)
	}

	_, err := ingest.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("orders-1")})
	wantDenied(t, err, e.denied("ingest", "kinesis:DeleteStream", e.streamARN("orders-1")))
	if _, err := e.clients["admin"].DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders-1")}); err != nil {
		t.Fatalf("orders-1 after a refused DeleteStream: %v", err)
	}

	err = putOne(ingest, "payments", "x")
	wantDenied(t, err, e.denied("ingest", "kinesis:PutRecords", e.streamARN("payments")))
	_, err = ingest.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("payments"), Data: []byte("y"), PartitionKey: aws.String("k")})
	wantDenied(t, err, e.denied("ingest", "kinesis:PutRecord", e.streamARN("payments")))
	if got := e.records(t, "payments"); len(got) != 0 {
		t.Fatalf("refused puts stored %q", got)
	}

	it, err := e.clients["admin"].GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("orders-1"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ingest.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	wantDenied(t, err, e.denied("ingest", "kinesis:GetRecords", e.streamARN("orders-1")))
	_, err = ingest.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("orders-1"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	wantDenied(t, err, e.denied("ingest", "kinesis:GetShardIterator", e.streamARN("orders-1")))
	_, err = ingest.ListStreams(bg, &sdk.ListStreamsInput{})
	wantDenied(t, err, e.denied("ingest", "kinesis:ListStreams", "*"))

	if got := e.records(t, "orders-1"); strings.Join(got, ",") != "a,b" {
		t.Fatalf("orders-1 holds %q; want the two allowed puts", got)
	}
}

// TestAuthorize_MissingStreamIsDeniedFirst: a user who may not act on a
// stream learns nothing of whether it exists; one who may is told it does
// not.
func TestAuthorize_MissingStreamIsDeniedFirst(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"ingest": ingestPolicy, "admin": adminPolicy})
	e.create(t, "payments")
	ingest := e.clients["ingest"]
	for _, name := range []string{"payments", "nope"} {
		_, err := ingest.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String(name)})
		wantDenied(t, err, e.denied("ingest", "kinesis:DeleteStream", e.streamARN(name)))
		_, err = ingest.ListTagsForResource(bg, &sdk.ListTagsForResourceInput{ResourceARN: aws.String(e.streamARN(name))})
		wantDenied(t, err, e.denied("ingest", "kinesis:ListTagsForResource", e.streamARN(name)))
	}
	_, err := ingest.DescribeStream(bg, &sdk.DescribeStreamInput{StreamName: aws.String("orders-missing")})
	wantAPIError(t, err, CodeResourceNotFound, "orders-missing")
	_, err = e.clients["admin"].DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("nope")})
	wantAPIError(t, err, CodeResourceNotFound, "nope")
	// A consumer named by stream and name is judged on its ARN without
	// the registration time when it is not registered.
	_, err = ingest.DescribeStreamConsumer(bg, &sdk.DescribeStreamConsumerInput{StreamARN: aws.String(e.streamARN("payments")), ConsumerName: aws.String("app")})
	wantDenied(t, err, e.denied("ingest", "kinesis:DescribeStreamConsumer", e.streamARN("payments")+"/consumer/app"))
}

// TestAuthorize_AdminDoesEverything: a user allowed kinesis:* runs the
// whole life of a stream.
func TestAuthorize_AdminDoesEverything(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"admin": adminPolicy})
	c := e.clients["admin"]
	if _, err := c.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(2), Tags: map[string]string{"team": "a"}}); err != nil {
		t.Fatal(err)
	}
	arn := e.streamARN("s")
	steps := []struct {
		name string
		call func() error
	}{
		{"ListStreams", func() error { _, err := c.ListStreams(bg, &sdk.ListStreamsInput{}); return err }},
		{"DescribeLimits", func() error { _, err := c.DescribeLimits(bg, &sdk.DescribeLimitsInput{}); return err }},
		{"PutRecords", func() error { return putOne(c, "s", "x") }},
		{"AddTagsToStream", func() error {
			_, err := c.AddTagsToStream(bg, &sdk.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"b": "c"}})
			return err
		}},
		{"IncreaseStreamRetentionPeriod", func() error {
			_, err := c.IncreaseStreamRetentionPeriod(bg, &sdk.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(48)})
			return err
		}},
		{"PutResourcePolicy", func() error {
			_, err := c.PutResourcePolicy(bg, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(arn),
				Policy: aws.String(`{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + e.userARN("admin") + `"}, "Action": "kinesis:GetRecords", "Resource": "*"}]}`)})
			return err
		}},
		{"GetResourcePolicy", func() error {
			_, err := c.GetResourcePolicy(bg, &sdk.GetResourcePolicyInput{ResourceARN: aws.String(arn)})
			return err
		}},
		{"MergeShards", func() error {
			_, err := c.MergeShards(bg, &sdk.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String("shardId-000000000000"), AdjacentShardToMerge: aws.String("shardId-000000000001")})
			return err
		}},
		{"RegisterStreamConsumer and the consumer's operations", func() error {
			reg, err := c.RegisterStreamConsumer(bg, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("app")})
			if err != nil {
				return err
			}
			if _, err := c.ListStreamConsumers(bg, &sdk.ListStreamConsumersInput{StreamARN: aws.String(arn)}); err != nil {
				return err
			}
			if _, err := c.DescribeStreamConsumer(bg, &sdk.DescribeStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("app")}); err != nil {
				return err
			}
			_, err = c.DeregisterStreamConsumer(bg, &sdk.DeregisterStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
			return err
		}},
		{"DeleteStream", func() error {
			_, err := c.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("s")})
			return err
		}},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
}

// TestAuthorize_EveryOperation: every operation is judged as its IAM action
// on AWS's resource before anything else happens: a user without
// permissions is refused each, naming the action and the resource, and the
// stream they name is left as it was; an admin passes authorization on
// each (what follows may refuse the request for other reasons).
func TestAuthorize_EveryOperation(t *testing.T) {
	e := newAuthEnv(t, DefaultAccount, map[string]string{"nobody": "", "admin": adminPolicy})
	e.create(t, "orders")
	consumerOps := map[string]bool{"DescribeStreamConsumer": true, "DeregisterStreamConsumer": true, "SubscribeToShard": true,
		"GetResourcePolicy": true, "TagResource": true, "UntagResource": true}
	seen := map[string]bool{}
	for _, tc := range sdkCalls() {
		if tc.op == "GetRecords" {
			continue // an iterator must be valid to name a stream; see TestAuthorize_IngestPolicy
		}
		seen[tc.op] = true
		resource := testARN
		switch {
		case consumerOps[tc.op]:
			resource = testCARN
		case tc.op == "ListStreams" || tc.op == "DescribeLimits":
			resource = "*"
		}
		call := tc.call
		if tc.op == "SubscribeToShard" {
			call = func(ctx context.Context, c *sdk.Client) (any, error) {
				out, err := c.SubscribeToShard(ctx, &sdk.SubscribeToShardInput{ConsumerARN: aws.String(testCARN), ShardId: aws.String("shardId-000000000000"),
					StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeLatest}})
				if err == nil {
					out.GetStream().Close()
				}
				return nil, err
			}
		}
		t.Run(tc.op, func(t *testing.T) {
			_, err := call(bg, e.clients["nobody"])
			wantDenied(t, err, e.denied("nobody", "kinesis:"+tc.op, resource))
			_, err = call(bg, e.clients["admin"])
			var ae interface{ ErrorCode() string }
			if errorsAs(err, &ae) && ae.ErrorCode() == string(CodeAccessDenied) {
				t.Fatalf("admin refused: %v", err)
			}
		})
	}
	if len(seen) != int(opCount)-2 {
		t.Fatalf("checked %d operations; %d are served", len(seen), opCount-1)
	}
}

// TestAuthorize_EveryOperationLeavesNoEffect: the refused calls of a user
// without permissions change nothing of the stream they name.
func TestAuthorize_EveryOperationLeavesNoEffect(t *testing.T) {
	e := newAuthEnv(t, DefaultAccount, map[string]string{"nobody": "", "admin": adminPolicy})
	e.create(t, "orders")
	before, err := e.eng.DescribeStream("orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range sdkCalls() {
		_, _ = tc.call(bg, e.clients["nobody"])
	}
	after, err := e.eng.DescribeStream("orders")
	if err != nil {
		t.Fatalf("orders after the refused calls: %v", err)
	}
	if after.Incarnation != before.Incarnation || after.RetentionHours != before.RetentionHours || len(after.Tags) != 0 ||
		len(after.Shards) != 1 || len(after.Consumers) != 0 || after.Policy != "" || after.EncryptionType != before.EncryptionType ||
		len(after.Monitoring) != 0 || after.MaxRecordSize != before.MaxRecordSize || after.Mode != before.Mode {
		t.Fatalf("refused calls changed the stream:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := e.records(t, "orders"); len(got) != 0 {
		t.Fatalf("refused puts stored %q", got)
	}
}

// TestAuthorize_ResourcePolicy: a stream's policy grants to the users it
// names, its Deny beats an identity Allow, and changes to it take effect at
// once.
func TestAuthorize_ResourcePolicy(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"ingest": ingestPolicy, "admin": adminPolicy, "other": ""})
	e.create(t, "payments", "orders-1")
	admin, ingest := e.clients["admin"], e.clients["ingest"]
	payments := e.streamARN("payments")
	put := func(resource, doc string) {
		t.Helper()
		if _, err := admin.PutResourcePolicy(bg, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(resource), Policy: aws.String(doc)}); err != nil {
			t.Fatalf("PutResourcePolicy %s: %v", doc, err)
		}
	}

	wantDenied(t, putOne(ingest, "payments", "before"), e.denied("ingest", "kinesis:PutRecords", payments))
	put(payments, `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "`+e.userARN("ingest")+`"},
		"Action": "kinesis:PutRecords", "Resource": "`+payments+`"}]}`)
	if err := putOne(ingest, "payments", "granted"); err != nil {
		t.Fatalf("PutRecords granted by the stream's policy: %v", err)
	}
	_, err := ingest.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("payments"), Data: []byte("y"), PartitionKey: aws.String("k")})
	wantDenied(t, err, e.denied("ingest", "kinesis:PutRecord", payments))
	wantDenied(t, putOne(e.clients["other"], "payments", "other"), e.denied("other", "kinesis:PutRecords", payments))
	if got := e.records(t, "payments"); strings.Join(got, ",") != "granted" {
		t.Fatalf("payments holds %q", got)
	}

	// An explicit Deny in the policy beats the admin's Allow.
	put(payments, `{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": ["kinesis:DeleteStream", "kinesis:PutRecords"], "Resource": "*"}]}`)
	_, err = admin.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("payments")})
	wantDenied(t, err, "User: "+e.userARN("admin")+" is not authorized to perform: kinesis:DeleteStream on resource: "+payments+
		" with an explicit deny in a resource-based policy")
	if err := putOne(ingest, "payments", "after deny"); err == nil {
		t.Fatal("the Deny did not take the grant back")
	}
	// Another stream is not concerned.
	if err := putOne(ingest, "orders-1", "o"); err != nil {
		t.Fatal(err)
	}
	// A policy stored through another door is in force at the next request.
	if err := e.eng.SetPolicy("orders-1", "", `{"Statement": [{"Effect": "Deny", "Principal": {"AWS": "`+e.userARN("ingest")+`"}, "Action": "kinesis:PutRecords", "Resource": "*"}]}`); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, putOne(ingest, "orders-1", "o2"), "User: "+e.userARN("ingest")+" is not authorized to perform: kinesis:PutRecords on resource: "+
		e.streamARN("orders-1")+" with an explicit deny in a resource-based policy")

	// Removing the policy lifts the Deny at once.
	if _, err := admin.DeleteResourcePolicy(bg, &sdk.DeleteResourcePolicyInput{ResourceARN: aws.String(payments)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("payments")}); err != nil {
		t.Fatalf("DeleteStream once the policy is gone: %v", err)
	}
}

// TestAuthorize_ConsumerPolicy: a consumer's policy grants SubscribeToShard
// to the user it names, on the consumer's ARN.
func TestAuthorize_ConsumerPolicy(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"reader": "", "admin": adminPolicy, "other": ""})
	e.create(t, "orders-1")
	admin := e.clients["admin"]
	reg, err := admin.RegisterStreamConsumer(bg, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(e.streamARN("orders-1")), ConsumerName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	carn := aws.ToString(reg.Consumer.ConsumerARN)
	subscribe := func(user string) error {
		out, err := e.clients[user].SubscribeToShard(bg, &sdk.SubscribeToShardInput{ConsumerARN: aws.String(carn),
			ShardId: aws.String("shardId-000000000000"), StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeLatest}})
		if err == nil {
			out.GetStream().Close()
		}
		return err
	}
	wantDenied(t, subscribe("reader"), e.denied("reader", "kinesis:SubscribeToShard", carn))
	if _, err := admin.PutResourcePolicy(bg, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(carn), Policy: aws.String(
		`{"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["` + e.userARN("reader") + `"]}, "Action": ["kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"], "Resource": "*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if err := subscribe("reader"); err != nil {
		t.Fatalf("SubscribeToShard granted by the consumer's policy: %v", err)
	}
	if _, err := e.clients["reader"].DescribeStreamConsumer(bg, &sdk.DescribeStreamConsumerInput{StreamARN: aws.String(e.streamARN("orders-1")), ConsumerName: aws.String("app")}); err != nil {
		t.Fatalf("DescribeStreamConsumer by name, granted by the consumer's policy: %v", err)
	}
	wantDenied(t, subscribe("other"), e.denied("other", "kinesis:SubscribeToShard", carn))
	// The stream's policy does not cover its consumers.
	_, err = e.clients["reader"].DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders-1")})
	wantDenied(t, err, e.denied("reader", "kinesis:DescribeStreamSummary", e.streamARN("orders-1")))
}

// TestPutResourcePolicy_RefusesMalformed: a policy sluice cannot enforce as
// written is refused with the reason, and the policy in force stays.
func TestPutResourcePolicy_RefusesMalformed(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"admin": adminPolicy})
	e.create(t, "orders-1")
	admin := e.clients["admin"]
	arn := e.streamARN("orders-1")
	good := `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kinesis:DescribeStream", "Resource": "*"}]}`
	if _, err := admin.PutResourcePolicy(bg, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(arn), Policy: aws.String(good)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ doc, want string }{
		{`{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kinesis:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}`, "Condition"},
		{`{"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}`, "must name a Principal"},
		{`{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "kinesis:*", "Resource": "*"}]}`, `Effect "Maybe"`},
		{`{"Statement": []}`, "no Statement"},
		{`not json`, "not a valid policy document"},
	} {
		_, err := admin.PutResourcePolicy(bg, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(arn), Policy: aws.String(c.doc)})
		wantAPIError(t, err, CodeInvalidArgument, c.want)
		out, err := admin.GetResourcePolicy(bg, &sdk.GetResourcePolicyInput{ResourceARN: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Policy) != good {
			t.Fatalf("after a refused policy, the stream's is %s", aws.ToString(out.Policy))
		}
	}
}

// TestAuthorize_StoredInvalidPolicy: a policy stored before policies were
// enforced, which sluice cannot evaluate, refuses every request on its
// stream but its own replacement or removal.
func TestAuthorize_StoredInvalidPolicy(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"admin": adminPolicy})
	e.create(t, "orders-1")
	if err := e.eng.SetPolicy("orders-1", "", `{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {}}]}`); err != nil {
		t.Fatal(err)
	}
	admin := e.clients["admin"]
	err := putOne(admin, "orders-1", "x")
	wantAPIError(t, err, CodeAccessDenied, "the resource policy stored for it is not valid")
	if _, err := admin.DeleteResourcePolicy(bg, &sdk.DeleteResourcePolicyInput{ResourceARN: aws.String(e.streamARN("orders-1"))}); err != nil {
		t.Fatal(err)
	}
	if err := putOne(admin, "orders-1", "x"); err != nil {
		t.Fatalf("PutRecords once the invalid policy is gone: %v", err)
	}
}

// TestAuthorize_Audit: the audit log has a line for each mutating request
// and each denied one, with the identity, action, resource and outcome.
func TestAuthorize_Audit(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"ingest": ingestPolicy, "admin": adminPolicy})
	e.create(t, "orders-1")
	ingest, admin := e.clients["ingest"], e.clients["admin"]
	if err := putOne(ingest, "orders-1", "a"); err != nil {
		t.Fatal(err)
	}
	_, _ = ingest.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders-1")}) // read: not logged
	_, _ = ingest.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("orders-1")})
	_, _ = ingest.ListStreams(bg, &sdk.ListStreamsInput{})
	_, _ = admin.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("orders-1"), ShardCount: aws.Int32(1)})
	_, _ = admin.IncreaseStreamRetentionPeriod(bg, &sdk.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("orders-1"), RetentionPeriodHours: aws.Int32(1)})
	e.srv.Close() // waits for the requests in flight, which log after answering
	if err := e.audit.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(e.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct{ Time, Identity, Action, Resource, Door, Outcome, Remote string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if l.Door != "http" || !strings.HasPrefix(l.Remote, "127.0.0.1:") || l.Time == "" {
			t.Errorf("audit line %s", sc.Text())
		}
		got = append(got, strings.Join([]string{l.Identity, l.Action, l.Resource, l.Outcome}, " "))
	}
	arn := e.streamARN("orders-1")
	want := []string{
		e.userARN("admin") + " kinesis:CreateStream " + arn + " allowed",
		e.userARN("ingest") + " kinesis:PutRecords " + arn + " allowed",
		e.userARN("ingest") + " kinesis:DeleteStream " + arn + " denied",
		e.userARN("ingest") + " kinesis:ListStreams * denied",
		e.userARN("admin") + " kinesis:CreateStream " + arn + " error:ResourceInUseException",
		e.userARN("admin") + " kinesis:IncreaseStreamRetentionPeriod " + arn + " error:InvalidArgumentException",
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAuthorize_CreateStreamTags: as on AWS, tags given to CreateStream need
// kinesis:AddTagsToStream on the new stream too.
func TestAuthorize_CreateStreamTags(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{
		"creator": `{"Statement": [{"Effect": "Allow", "Action": ["kinesis:CreateStream", "kinesis:DescribeStreamSummary"], "Resource": "*"}]}`,
	})
	c := e.clients["creator"]
	_, err := c.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("tagged"), ShardCount: aws.Int32(1), Tags: map[string]string{"team": "a"}})
	wantDenied(t, err, e.denied("creator", "kinesis:AddTagsToStream", e.streamARN("tagged")))
	_, err = c.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("tagged")})
	wantAPIError(t, err, CodeResourceNotFound, "tagged")
	if _, err := c.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("plain"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("CreateStream without tags: %v", err)
	}
}

// TestAuthorize_NextTokenNamesTheStream: a page of ListShards or
// ListStreamConsumers asked for by NextToken alone is judged on the stream
// the token pages.
func TestAuthorize_NextTokenNamesTheStream(t *testing.T) {
	e := newAuthEnv(t, "123456789012", map[string]string{"ingest": ingestPolicy, "admin": adminPolicy})
	admin, ingest := e.clients["admin"], e.clients["ingest"]
	for _, name := range []string{"orders-1", "payments"} {
		if _, err := admin.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"a", "b"} {
			if _, err := admin.RegisterStreamConsumer(bg, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(e.streamARN(name)), ConsumerName: aws.String(c)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	shardToken := func(name string) *string {
		out, err := admin.ListShards(bg, &sdk.ListShardsInput{StreamName: aws.String(name), MaxResults: aws.Int32(1)})
		if err != nil || out.NextToken == nil {
			t.Fatalf("ListShards %s: %v, NextToken %v", name, err, out.NextToken)
		}
		return out.NextToken
	}
	if _, err := ingest.ListShards(bg, &sdk.ListShardsInput{NextToken: shardToken("orders-1")}); err != nil {
		t.Fatalf("ingest pages orders-1's shards: %v", err)
	}
	_, err := ingest.ListShards(bg, &sdk.ListShardsInput{NextToken: shardToken("payments")})
	wantDenied(t, err, e.denied("ingest", "kinesis:ListShards", e.streamARN("payments")))

	out, err := admin.ListStreamConsumers(bg, &sdk.ListStreamConsumersInput{StreamARN: aws.String(e.streamARN("payments")), MaxResults: aws.Int32(1)})
	if err != nil || out.NextToken == nil {
		t.Fatalf("ListStreamConsumers: %v", err)
	}
	// StreamARN is required by the model (a body without it is a
	// ValidationException); the token pages the stream it names.
	body := `{"NextToken":` + strconv.Quote(aws.ToString(out.NextToken)) + `,"StreamARN":` + strconv.Quote(e.streamARN("payments")) + `}`
	req, err := http.NewRequest(http.MethodPost, e.srv.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", TargetPrefix+"ListStreamConsumers")
	req.Header.Set("Content-Type", ContentTypeJSON)
	req.Header.Set("X-Amz-Date", "20240101T000000Z")
	req.Header.Set("Authorization", strings.Replace(testAuthorization, "AKIDRAWTEST", accessKeyOf("ingest"), 1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct{ Message string }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	want := e.denied("ingest", "kinesis:ListStreamConsumers", e.streamARN("payments"))
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-Errortype") != string(CodeAccessDenied) || answer.Message != want {
		t.Fatalf("ListStreamConsumers by NextToken: %d %s %q; want 400 AccessDeniedException %q", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), answer.Message, want)
	}
}
