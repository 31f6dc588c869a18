package kinesis

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestHandler_StreamLifecycle(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.client
	env.createStream(t, "orders", 3)
	arn := streamARN("orders")

	_, err := c.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)})
	wantAPIError(t, err, CodeResourceInUse, "orders")

	d, err := c.DescribeStream(bg, &sdk.DescribeStreamInput{StreamARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	sd := d.StreamDescription
	if aws.ToString(sd.StreamName) != "orders" || aws.ToString(sd.StreamARN) != arn || sd.StreamStatus != sdktypes.StreamStatusActive ||
		len(sd.Shards) != 3 || aws.ToBool(sd.HasMoreShards) || aws.ToInt32(sd.RetentionPeriodHours) != 24 ||
		sd.StreamModeDetails.StreamMode != sdktypes.StreamModeProvisioned || sd.EncryptionType != sdktypes.EncryptionTypeNone ||
		len(sd.EnhancedMonitoring) != 1 || sd.StreamCreationTimestamp == nil {
		t.Fatalf("DescribeStream: %+v", sd)
	}
	if aws.ToString(sd.Shards[0].HashKeyRange.StartingHashKey) != "0" ||
		aws.ToString(sd.Shards[2].HashKeyRange.EndingHashKey) != "340282366920938463463374607431768211455" {
		t.Errorf("shards do not cover the hash key space: %+v", sd.Shards)
	}

	sum, err := c.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.StreamDescriptionSummary; aws.ToInt32(s.OpenShardCount) != 3 || aws.ToInt32(s.ConsumerCount) != 0 ||
		aws.ToInt32(s.MaxRecordSizeInKiB) != 1024 || aws.ToString(s.StreamARN) != arn {
		t.Fatalf("DescribeStreamSummary: %+v", s)
	}

	// Retention.
	if _, err := c.IncreaseStreamRetentionPeriod(bg, &sdk.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), RetentionPeriodHours: aws.Int32(48)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DecreaseStreamRetentionPeriod(bg, &sdk.DecreaseStreamRetentionPeriodInput{StreamARN: aws.String(arn), RetentionPeriodHours: aws.Int32(72)})
	wantAPIError(t, err, CodeInvalidArgument, "can not be longer than existing retention period")
	_, err = c.IncreaseStreamRetentionPeriod(bg, &sdk.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), RetentionPeriodHours: aws.Int32(9000)})
	wantAPIError(t, err, CodeInvalidArgument, "Maximum allowed retention period is 8760 hours")
	if _, err := c.DecreaseStreamRetentionPeriod(bg, &sdk.DecreaseStreamRetentionPeriodInput{StreamARN: aws.String(arn), RetentionPeriodHours: aws.Int32(36)}); err != nil {
		t.Fatal(err)
	}

	// Enhanced monitoring.
	mon, err := c.EnableEnhancedMonitoring(bg, &sdk.EnableEnhancedMonitoringInput{StreamName: aws.String("orders"),
		ShardLevelMetrics: []sdktypes.MetricsName{sdktypes.MetricsNameIncomingBytes, sdktypes.MetricsNameOutgoingRecords}})
	if err != nil {
		t.Fatal(err)
	}
	if len(mon.CurrentShardLevelMetrics) != 0 || len(mon.DesiredShardLevelMetrics) != 2 || aws.ToString(mon.StreamARN) != arn {
		t.Fatalf("EnableEnhancedMonitoring: %+v", mon)
	}
	dis, err := c.DisableEnhancedMonitoring(bg, &sdk.DisableEnhancedMonitoringInput{StreamARN: aws.String(arn), ShardLevelMetrics: []sdktypes.MetricsName{sdktypes.MetricsNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dis.CurrentShardLevelMetrics) != 2 || len(dis.DesiredShardLevelMetrics) != 0 {
		t.Fatalf("DisableEnhancedMonitoring: %+v", dis)
	}
	_, err = c.EnableEnhancedMonitoring(bg, &sdk.EnableEnhancedMonitoringInput{StreamName: aws.String("orders"), ShardLevelMetrics: []sdktypes.MetricsName{"Bytes"}})
	wantAPIError(t, err, CodeValidation, "Member must satisfy enum value set")

	// Mode and record size.
	if _, err := c.UpdateStreamMode(bg, &sdk.UpdateStreamModeInput{StreamARN: aws.String(arn), StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: sdktypes.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateShardCount(bg, &sdk.UpdateShardCountInput{StreamName: aws.String("orders"), TargetShardCount: aws.Int32(4), ScalingType: sdktypes.ScalingTypeUniformScaling})
	wantAPIError(t, err, CodeValidation, "ON_DEMAND")
	if _, err := c.UpdateMaxRecordSize(bg, &sdk.UpdateMaxRecordSizeInput{StreamARN: aws.String(arn), MaxRecordSizeInKiB: aws.Int32(4096)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateMaxRecordSize(bg, &sdk.UpdateMaxRecordSizeInput{StreamARN: aws.String(arn), MaxRecordSizeInKiB: aws.Int32(20000)})
	wantAPIError(t, err, CodeValidation, "Value '20000' at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value less than or equal to 10240")
	sum, err = c.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.StreamDescriptionSummary; s.StreamModeDetails.StreamMode != sdktypes.StreamModeOnDemand || aws.ToInt32(s.MaxRecordSizeInKiB) != 4096 || aws.ToInt32(s.RetentionPeriodHours) != 36 {
		t.Fatalf("after updates: %+v", s)
	}

	// DescribeLimits counts open shards and on-demand streams.
	if _, err := c.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("auto"), StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: sdktypes.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	lim, err := c.DescribeLimits(bg, &sdk.DescribeLimitsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(lim.OpenShardCount) != 7 || aws.ToInt32(lim.OnDemandStreamCount) != 2 || aws.ToInt32(lim.OnDemandStreamCountLimit) != OnDemandStreamLimit || aws.ToInt32(lim.ShardLimit) < 1 {
		t.Fatalf("DescribeLimits: %+v", lim)
	}

	// Deletion, seen by the SDK's waiter.
	if _, err := c.DeleteStream(bg, &sdk.DeleteStreamInput{StreamARN: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	w := sdk.NewStreamNotExistsWaiter(c, func(o *sdk.StreamNotExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
	if err := w.Wait(bg, &sdk.DescribeStreamInput{StreamName: aws.String("orders")}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
	wantAPIError(t, err, CodeResourceNotFound, "Stream orders under account 000000000000 not found.")
}

func TestHandler_CreateStreamValidation(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.client
	for _, tc := range []struct {
		in   *sdk.CreateStreamInput
		code ErrorCode
		msg  string
	}{
		{&sdk.CreateStreamInput{StreamName: aws.String("a b"), ShardCount: aws.Int32(0)}, CodeValidation,
			"2 validation errors detected: Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; Value 'a b' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
		{&sdk.CreateStreamInput{StreamName: aws.String("s")}, CodeInvalidArgument, "ShardCount is required for a PROVISIONED stream"},
		{&sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(2), StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: sdktypes.StreamModeOnDemand}}, CodeInvalidArgument, "ON_DEMAND"},
		{&sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(20000)}, CodeLimitExceeded, "at most 10000 shards"},
		{&sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1), MaxRecordSizeInKiB: aws.Int32(100)}, CodeValidation, "at 'maxRecordSizeInKiB'"},
		{&sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1), Tags: map[string]string{"k": "v#"}}, CodeInvalidArgument, "invalid characters"},
		{&sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1), StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: "LOTS"}}, CodeValidation, "at 'streamModeDetails.streamMode'"},
	} {
		_, err := c.CreateStream(bg, tc.in)
		wantAPIError(t, err, tc.code, tc.msg)
	}
	if out, err := c.ListStreams(bg, &sdk.ListStreamsInput{}); err != nil || len(out.StreamNames) != 0 {
		t.Fatalf("refused creates left streams: %v %v", out, err)
	}
}

func TestHandler_ListStreamsPaging(t *testing.T) {
	env := newTestEnv(t, nil)
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("s%d", i)
		env.createStream(t, name, 1)
		want = append(want, name)
	}
	var got []string
	in := &sdk.ListStreamsInput{Limit: aws.Int32(2)}
	for pages := 0; ; pages++ {
		out, err := env.client.ListStreams(bg, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.StreamNames) != len(out.StreamSummaries) {
			t.Fatalf("%d names, %d summaries", len(out.StreamNames), len(out.StreamSummaries))
		}
		for i, s := range out.StreamSummaries {
			if aws.ToString(s.StreamName) != out.StreamNames[i] || aws.ToString(s.StreamARN) != streamARN(out.StreamNames[i]) || s.StreamStatus != sdktypes.StreamStatusActive {
				t.Fatalf("summary %+v", s)
			}
		}
		got = append(got, out.StreamNames...)
		if !aws.ToBool(out.HasMoreStreams) {
			if out.NextToken != nil {
				t.Fatal("NextToken on the last page")
			}
			break
		}
		in = &sdk.ListStreamsInput{Limit: aws.Int32(2), NextToken: out.NextToken}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged %v; want %v", got, want)
	}
	out, err := env.client.ListStreams(bg, &sdk.ListStreamsInput{ExclusiveStartStreamName: aws.String("s2")})
	if err != nil || fmt.Sprint(out.StreamNames) != "[s3 s4]" {
		t.Fatalf("ExclusiveStartStreamName s2: %v %v", out.StreamNames, err)
	}
	// The SDK's paginator walks the pages too.
	p := sdk.NewListStreamsPaginator(env.client, &sdk.ListStreamsInput{Limit: aws.Int32(3)})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.StreamNames)
	}
	if n != 5 {
		t.Fatalf("paginator saw %d streams", n)
	}
	_, err = env.client.ListStreams(bg, &sdk.ListStreamsInput{NextToken: aws.String("bm90IGEgdG9rZW4=")})
	wantAPIError(t, err, CodeInvalidArgument, "NextToken is not valid")
}

func TestHandler_DescribeStreamPaging(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 5)
	var ids []string
	in := &sdk.DescribeStreamInput{StreamName: aws.String("s"), Limit: aws.Int32(2)}
	for {
		out, err := env.client.DescribeStream(bg, in)
		if err != nil {
			t.Fatal(err)
		}
		sd := out.StreamDescription
		if len(sd.Shards) > 2 {
			t.Fatalf("Limit 2 returned %d shards", len(sd.Shards))
		}
		for _, s := range sd.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		if !aws.ToBool(sd.HasMoreShards) {
			break
		}
		in.ExclusiveStartShardId = sd.Shards[len(sd.Shards)-1].ShardId
	}
	want := "[shardId-000000000000 shardId-000000000001 shardId-000000000002 shardId-000000000003 shardId-000000000004]"
	if fmt.Sprint(ids) != want {
		t.Fatalf("paged %v", ids)
	}
}

func TestHandler_Tags(t *testing.T) {
	c, arn := newOneStreamEnv(t)
	if _, err := c.AddTagsToStream(bg, &sdk.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"a": "1", "b": "2", "c": ""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(bg, &sdk.TagResourceInput{ResourceARN: aws.String(arn), Tags: map[string]string{"d": "4"}}); err != nil {
		t.Fatal(err)
	}
	page, err := c.ListTagsForStream(bg, &sdk.ListTagsForStreamInput{StreamName: aws.String("s"), Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tags) != 2 || !aws.ToBool(page.HasMoreTags) || aws.ToString(page.Tags[1].Key) != "b" {
		t.Fatalf("first page %+v", page)
	}
	page, err = c.ListTagsForStream(bg, &sdk.ListTagsForStreamInput{StreamARN: aws.String(arn), ExclusiveStartTagKey: aws.String("b")})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tags) != 2 || aws.ToBool(page.HasMoreTags) || aws.ToString(page.Tags[0].Key) != "c" || aws.ToString(page.Tags[1].Value) != "4" {
		t.Fatalf("second page %+v", page)
	}
	if _, err := c.RemoveTagsFromStream(bg, &sdk.RemoveTagsFromStreamInput{StreamName: aws.String("s"), TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(bg, &sdk.UntagResourceInput{ResourceARN: aws.String(arn), TagKeys: []string{"b", "zz"}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.ListTagsForResource(bg, &sdk.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, tag := range res.Tags {
		keys = append(keys, aws.ToString(tag.Key))
	}
	if fmt.Sprint(keys) != "[c d]" {
		t.Fatalf("tags left %v", keys)
	}
	many := map[string]string{}
	for i := range 49 {
		many[fmt.Sprint("k", i)] = "v"
	}
	_, err = c.AddTagsToStream(bg, &sdk.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: many})
	wantAPIError(t, err, CodeInvalidArgument, "at most 50 tags")
	_, err = c.TagResource(bg, &sdk.TagResourceInput{ResourceARN: aws.String("arn:aws:kinesis:eu-west-1:000000000000:stream/s"), Tags: map[string]string{"x": "y"}})
	wantAPIError(t, err, CodeResourceNotFound, "")
	_, err = c.ListTagsForResource(bg, &sdk.ListTagsForResourceInput{ResourceARN: aws.String("arn:aws:s3:::bucket")})
	wantAPIError(t, err, CodeValidation, "at 'resourceARN'")
}

func TestHandler_ResourcePolicies(t *testing.T) {
	c, arn := newOneStreamEnv(t)
	get := func(resource string) string {
		t.Helper()
		out, err := c.GetResourcePolicy(bg, &sdk.GetResourcePolicyInput{ResourceARN: aws.String(resource)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Policy)
	}
	if p := get(arn); p != "{}" {
		t.Fatalf("policy of a fresh stream %q", p)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kinesis:GetRecords","Resource":"*"}]}`
	if _, err := c.PutResourcePolicy(bg, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(arn), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if p := get(arn); p != policy {
		t.Fatalf("policy %q", p)
	}
	_, err := c.PutResourcePolicy(bg, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(arn), Policy: aws.String("not json")})
	wantAPIError(t, err, CodeInvalidArgument, "not a valid policy document")

	reg, err := c.RegisterStreamConsumer(bg, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	carn := aws.ToString(reg.Consumer.ConsumerARN)
	cpolicy := `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kinesis:SubscribeToShard","Resource":"*"}]}`
	if _, err := c.PutResourcePolicy(bg, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(carn), Policy: aws.String(cpolicy)}); err != nil {
		t.Fatal(err)
	}
	if p := get(carn); p != cpolicy {
		t.Fatalf("consumer policy %q", p)
	}
	for _, r := range []string{arn, carn} {
		if _, err := c.DeleteResourcePolicy(bg, &sdk.DeleteResourcePolicyInput{ResourceARN: aws.String(r)}); err != nil {
			t.Fatal(err)
		}
		if p := get(r); p != "{}" {
			t.Fatalf("policy of %s after delete %q", r, p)
		}
		_, err = c.DeleteResourcePolicy(bg, &sdk.DeleteResourcePolicyInput{ResourceARN: aws.String(r)})
		wantAPIError(t, err, CodeResourceNotFound, "No resource policy found")
	}
}

func TestHandler_Consumers(t *testing.T) {
	c, arn := newOneStreamEnv(t)
	var arns []string
	for _, name := range []string{"c3", "c1", "c2"} {
		out, err := c.RegisterStreamConsumer(bg, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String(name), Tags: map[string]string{"team": name}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Consumer.ConsumerName) != name || out.Consumer.ConsumerStatus != sdktypes.ConsumerStatusActive ||
			out.Consumer.ConsumerCreationTimestamp == nil {
			t.Fatalf("RegisterStreamConsumer: %+v", out.Consumer)
		}
		arns = append(arns, aws.ToString(out.Consumer.ConsumerARN))
	}
	_, err := c.RegisterStreamConsumer(bg, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c1")})
	wantAPIError(t, err, CodeResourceInUse, "c1")

	byARN, err := c.DescribeStreamConsumer(bg, &sdk.DescribeStreamConsumerInput{ConsumerARN: aws.String(arns[0])})
	if err != nil {
		t.Fatal(err)
	}
	byName, err := c.DescribeStreamConsumer(bg, &sdk.DescribeStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c3")})
	if err != nil {
		t.Fatal(err)
	}
	if d := byARN.ConsumerDescription; aws.ToString(d.ConsumerName) != "c3" || aws.ToString(d.StreamARN) != arn ||
		aws.ToString(byName.ConsumerDescription.ConsumerARN) != arns[0] {
		t.Fatalf("DescribeStreamConsumer: %+v / %+v", d, byName.ConsumerDescription)
	}
	tags, err := c.ListTagsForResource(bg, &sdk.ListTagsForResourceInput{ResourceARN: aws.String(arns[0])})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "c3" {
		t.Fatalf("consumer tags %+v %v", tags, err)
	}
	sum, err := c.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	if err != nil || aws.ToInt32(sum.StreamDescriptionSummary.ConsumerCount) != 3 {
		t.Fatalf("ConsumerCount %+v %v", sum, err)
	}

	// Paged listing, by name.
	var names []string
	in := &sdk.ListStreamConsumersInput{StreamARN: aws.String(arn), MaxResults: aws.Int32(2)}
	for {
		out, err := c.ListStreamConsumers(bg, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, con := range out.Consumers {
			names = append(names, aws.ToString(con.ConsumerName))
		}
		if out.NextToken == nil {
			break
		}
		in = &sdk.ListStreamConsumersInput{StreamARN: aws.String(arn), NextToken: out.NextToken}
	}
	if !sort.StringsAreSorted(names) || len(names) != 3 {
		t.Fatalf("listed %v", names)
	}

	_, err = c.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("s")})
	wantAPIError(t, err, CodeResourceInUse, "consumers")
	if _, err := c.DeregisterStreamConsumer(bg, &sdk.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arns[0])}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeregisterStreamConsumer(bg, &sdk.DeregisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStreamConsumer(bg, &sdk.DescribeStreamConsumerInput{ConsumerARN: aws.String(arns[0])})
	wantAPIError(t, err, CodeResourceNotFound, "")
	if _, err := c.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("s"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}
