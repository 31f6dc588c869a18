package kinesis

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestHandler_SDKWaiters runs the SDK's StreamExists and StreamNotExists
// waiters against the HTTP door: each passes when its state is reached,
// and gives up (instead of passing) when it is not.
func TestHandler_SDKWaiters(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.client
	exists := sdk.NewStreamExistsWaiter(c, func(o *sdk.StreamExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
	gone := sdk.NewStreamNotExistsWaiter(c, func(o *sdk.StreamNotExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
	in := &sdk.DescribeStreamInput{StreamName: aws.String("w")}

	if err := exists.Wait(bg, in, 50*time.Millisecond); err == nil {
		t.Fatal("StreamExists passed for a stream that was never created")
	}
	if err := gone.Wait(bg, in, 5*time.Second); err != nil {
		t.Fatalf("StreamNotExists for a stream that was never created: %v", err)
	}
	if _, err := c.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("w"),
		StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: sdktypes.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	if err := exists.Wait(bg, in, 5*time.Second); err != nil {
		t.Fatalf("StreamExists after CreateStream: %v", err)
	}
	if err := gone.Wait(bg, in, 50*time.Millisecond); err == nil {
		t.Fatal("StreamNotExists passed for a stream that exists")
	}
	if _, err := c.DeleteStream(bg, &sdk.DeleteStreamInput{StreamName: aws.String("w")}); err != nil {
		t.Fatal(err)
	}
	if err := gone.Wait(bg, in, 5*time.Second); err != nil {
		t.Fatalf("StreamNotExists after DeleteStream: %v", err)
	}
}

// TestHandler_UpdateStreamModeBothWays switches a stream to ON_DEMAND and
// back through the SDK: the mode shows in both describes, an ON_DEMAND
// stream is rescaled to its minimum of 4 shards by the autoscaler and
// refuses manual resharding, and back in PROVISIONED it keeps its shards
// and takes UpdateShardCount again.
func TestHandler_UpdateStreamModeBothWays(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.client
	env.createStream(t, "m", 1)
	arn := streamARN("m")
	mode := func() (sdktypes.StreamMode, int32, sdktypes.StreamStatus) {
		t.Helper()
		s, err := c.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		d := s.StreamDescriptionSummary
		return d.StreamModeDetails.StreamMode, aws.ToInt32(d.OpenShardCount), d.StreamStatus
	}
	if _, err := c.UpdateStreamMode(bg, &sdk.UpdateStreamModeInput{StreamARN: aws.String(arn),
		StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: sdktypes.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	if m, n, st := mode(); m != sdktypes.StreamModeOnDemand || n != 1 || st != sdktypes.StreamStatusActive {
		t.Fatalf("after UpdateStreamMode ON_DEMAND: %s, %d open shards, %s; want ON_DEMAND, 1, ACTIVE", m, n, st)
	}
	env.eng.AutoscaleNow() // 1 -> 2
	env.eng.AutoscaleNow() // 2 -> 4
	if m, n, _ := mode(); m != sdktypes.StreamModeOnDemand || n != 4 {
		t.Fatalf("an ON_DEMAND stream after two evaluations: %s with %d open shards; want ON_DEMAND with 4", m, n)
	}
	_, err := c.UpdateShardCount(bg, &sdk.UpdateShardCountInput{StreamARN: aws.String(arn), TargetShardCount: aws.Int32(8),
		ScalingType: sdktypes.ScalingTypeUniformScaling})
	wantAPIError(t, err, CodeValidation, "ON_DEMAND")

	if _, err := c.UpdateStreamMode(bg, &sdk.UpdateStreamModeInput{StreamARN: aws.String(arn),
		StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: sdktypes.StreamModeProvisioned}}); err != nil {
		t.Fatal(err)
	}
	if m, n, _ := mode(); m != sdktypes.StreamModeProvisioned || n != 4 {
		t.Fatalf("back in PROVISIONED: %s with %d open shards; want PROVISIONED with 4", m, n)
	}
	if _, err := c.UpdateShardCount(bg, &sdk.UpdateShardCountInput{StreamARN: aws.String(arn), TargetShardCount: aws.Int32(8),
		ScalingType: sdktypes.ScalingTypeUniformScaling}); err != nil {
		t.Fatalf("UpdateShardCount back in PROVISIONED: %v", err)
	}
	env.eng.AutoscaleNow()
	if _, n, _ := mode(); n != 8 {
		t.Fatalf("a PROVISIONED stream has %d open shards after an autoscaler evaluation; want the 8 it was given", n)
	}
}

// TestHandler_UpdateShardCountLimits: beyond double or below half is a
// ValidationException, and the 11th call within 24 hours a
// LimitExceededException, as Kinesis documents.
func TestHandler_UpdateShardCountLimits(t *testing.T) {
	env := newTestEnv(t, func(c *envConfig) { c.shareClock = true })
	c := env.client
	env.createStream(t, "u", 2)
	update := func(n int32) error {
		_, err := c.UpdateShardCount(bg, &sdk.UpdateShardCountInput{StreamName: aws.String("u"), TargetShardCount: aws.Int32(n),
			ScalingType: sdktypes.ScalingTypeUniformScaling})
		return err
	}
	wantAPIError(t, update(5), CodeValidation, "between half and double")
	for i := 0; i < 10; i++ {
		env.clock.Advance(time.Minute)
		n := int32(4)
		if i%2 == 1 {
			n = 2
		}
		if err := update(n); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	wantAPIError(t, update(4), CodeLimitExceeded, "10 times in the last 24 hours")
	env.clock.Advance(24 * time.Hour)
	if err := update(4); err != nil {
		t.Fatalf("a call a day later: %v", err)
	}
}

// TestHandler_UpdatingWhileReshardingThroughTheSDK rescales a stream of 100
// shards to 200 (100 splits) and meanwhile polls it through the SDK: it is
// UPDATING while the call runs, a second UpdateShardCount sent while it is
// UPDATING is refused with ResourceInUseException unless the first has finished by
// then, and it is ACTIVE with 200 open shards afterwards.
func TestHandler_UpdatingWhileReshardingThroughTheSDK(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.client
	env.createStream(t, "big", 100)
	done := make(chan error, 1)
	go func() {
		_, err := c.UpdateShardCount(bg, &sdk.UpdateShardCountInput{StreamName: aws.String("big"), TargetShardCount: aws.Int32(200),
			ScalingType: sdktypes.ScalingTypeUniformScaling})
		done <- err
	}()
	status := func() (sdktypes.StreamStatus, int32) {
		t.Helper()
		s, err := c.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("big")})
		if err != nil {
			t.Fatal(err)
		}
		return s.StreamDescriptionSummary.StreamStatus, aws.ToInt32(s.StreamDescriptionSummary.OpenShardCount)
	}
	var (
		first    error
		finished bool
		updating bool
	)
	for !finished && !updating {
		select {
		case first = <-done:
			finished = true
		default:
			st, _ := status()
			updating = st == sdktypes.StreamStatusUpdating
		}
	}
	if !updating {
		t.Fatal("UpdateShardCount from 100 to 200 shards finished before a describe saw the stream UPDATING")
	}
	_, err := c.UpdateShardCount(bg, &sdk.UpdateShardCountInput{StreamName: aws.String("big"), TargetShardCount: aws.Int32(200),
		ScalingType: sdktypes.ScalingTypeUniformScaling})
	if err == nil {
		select {
		case first = <-done:
			finished = true
		default:
			t.Fatal("a second UpdateShardCount was accepted while the first was still running")
		}
	} else {
		wantAPIError(t, err, CodeResourceInUse, "UPDATING")
	}
	if !finished {
		first = <-done
	}
	if first != nil {
		t.Fatalf("UpdateShardCount: %v", first)
	}
	if st, n := status(); st != sdktypes.StreamStatusActive || n != 200 {
		t.Fatalf("after UpdateShardCount: %s with %d open shards; want ACTIVE with 200", st, n)
	}
}
