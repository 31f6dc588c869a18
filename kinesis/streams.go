package kinesis

import (
	"context"
	"sort"

	"github.com/sluicedb/sluice/api"
)

// Control-plane operations on streams: lifecycle, description, listing and
// settings.

// Limits DescribeLimits reports.
const (
	// describedShardLimit is the most shards one stream may have (sluice
	// sets no account-wide total).
	describedShardLimit = api.MaxShardsPerStream
	// OnDemandStreamLimit is how many ON_DEMAND streams may exist at once,
	// AWS's default account quota (checked when a stream becomes ON_DEMAND;
	// concurrent requests may pass it by their number).
	OnDemandStreamLimit = 50
	// maxShardCountModel is the model's limit on ShardCount and TargetShardCount.
	maxShardCountModel = 100000
)

var streamModes = []string{string(StreamModeProvisioned), string(StreamModeOnDemand)}

func (h *Handler) createStream(_ context.Context, in *CreateStreamInput) (any, error) {
	mode := StreamModeProvisioned
	if in.StreamModeDetails != nil {
		mode = in.StreamModeDetails.StreamMode
	}
	switch {
	case mode == StreamModeProvisioned && in.ShardCount == nil:
		return nil, Errorf(CodeInvalidArgument, "ShardCount is required for a PROVISIONED stream; give 1 to %d, or create an ON_DEMAND stream", api.MaxShardsPerStream)
	case mode == StreamModeOnDemand && in.ShardCount != nil:
		return nil, Errorf(CodeInvalidArgument, "ShardCount must not be given for an ON_DEMAND stream, which starts with %d shards", api.OnDemandShards)
	case in.ShardCount != nil && *in.ShardCount > api.MaxShardsPerStream:
		return nil, Errorf(CodeLimitExceeded, "ShardCount is %d; a stream may have at most %d shards", *in.ShardCount, api.MaxShardsPerStream)
	case in.WarmThroughputMiBps != nil && *in.WarmThroughputMiBps > 0:
		return nil, Errorf(CodeInvalidArgument, "WarmThroughputMiBps is not supported: sluice has no warm throughput; leave it out or give 0")
	case in.RecordDistributionStrategy == RecordDistributionStrategyAuto:
		return nil, Errorf(CodeInvalidArgument, "RecordDistributionStrategy AUTO is not supported: sluice routes records by partition key (USER_PARTITION_KEY)")
	}
	if err := checkTagText(in.Tags); err != nil {
		return nil, err
	}
	if mode == StreamModeOnDemand {
		if err := h.checkOnDemandLimit(); err != nil {
			return nil, err
		}
	}
	ci := api.CreateStreamInput{Name: in.StreamName, Mode: api.StreamMode(mode), Tags: in.Tags}
	if in.ShardCount != nil {
		ci.ShardCount = int(*in.ShardCount)
	}
	if in.MaxRecordSizeInKiB != nil {
		ci.MaxRecordSize = int(*in.MaxRecordSizeInKiB) << 10
	}
	if _, err := h.eng.CreateStream(ci); err != nil {
		return nil, h.engErr(err)
	}
	h.forget(in.StreamName)
	return &EmptyOutput{}, nil
}

// checkOnDemandLimit refuses one more ON_DEMAND stream past OnDemandStreamLimit.
func (h *Handler) checkOnDemandLimit() error {
	n := 0
	for _, name := range h.eng.ListStreams() {
		if si, err := h.eng.DescribeStream(name); err == nil && si.Mode == api.OnDemand {
			n++
		}
	}
	if n >= OnDemandStreamLimit {
		return Errorf(CodeLimitExceeded, "This account already has %d ON_DEMAND streams; the limit is %d", n, OnDemandStreamLimit)
	}
	return nil
}

func (h *Handler) deleteStream(_ context.Context, in *DeleteStreamInput) (any, error) {
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := h.eng.DeleteStream(name, in.EnforceConsumerDeletion); err != nil {
		return nil, h.engErr(err)
	}
	h.forget(name)
	h.forgetConsumersOf(name)
	h.subs.endStream(name)
	return &EmptyOutput{}, nil
}

// describeStreamMaxShards is the most shards one DescribeStream returns.
const describeStreamMaxShards = 100

func (h *Handler) describeStream(_ context.Context, in *DescribeStreamInput) (any, error) {
	si, err := h.describeValid(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	limit := pageLimit(describeStreamMaxShards, in.Limit)
	shards := sortedShards(si)
	start := 0
	if in.ExclusiveStartShardId != "" {
		after := canonicalShardID(in.ExclusiveStartShardId)
		start = sort.Search(len(shards), func(i int) bool { return shards[i].ID > after })
	}
	end := min(start+limit, len(shards))
	d := StreamDescription{
		StreamName:              si.Name,
		StreamARN:               h.scope.StreamARN(si.Name),
		StreamStatus:            StreamStatus(si.Status),
		StreamModeDetails:       modeDetails(si),
		Shards:                  make([]Shard, 0, end-start),
		HasMoreShards:           end < len(shards),
		RetentionPeriodHours:    int32(si.RetentionHours),
		StreamCreationTimestamp: TimestampFromTime(si.Created),
		EnhancedMonitoring:      monitoringOf(si),
		EncryptionType:          encryptionTypeOf(si),
		KeyId:                   si.KeyID,
	}
	for i := start; i < end; i++ {
		d.Shards = append(d.Shards, shardOf(&shards[i]))
	}
	return &DescribeStreamOutput{StreamDescription: d}, nil
}

// sortedShards returns a stream's shards in shard id order.
func sortedShards(si *api.StreamInfo) []api.ShardInfo {
	shards := si.Shards
	sort.Slice(shards, func(i, j int) bool { return shards[i].ID < shards[j].ID })
	return shards
}

func (h *Handler) describeStreamSummary(_ context.Context, in *DescribeStreamSummaryInput) (any, error) {
	si, err := h.describeValid(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	return &DescribeStreamSummaryOutput{StreamDescriptionSummary: h.summaryOf(si)}, nil
}

// listStreamsMax is the most streams one ListStreams returns.
const listStreamsMax = 100

func (h *Handler) listStreams(_ context.Context, in *ListStreamsInput) (any, error) {
	after := in.ExclusiveStartStreamName
	if in.NextToken != "" {
		if in.ExclusiveStartStreamName != "" {
			return nil, Errorf(CodeInvalidArgument, "NextToken and ExclusiveStartStreamName cannot be provided together.")
		}
		t, err := h.tokens.decode(in.NextToken, pageListStreams)
		if err != nil {
			return nil, err
		}
		after = t.after
	}
	limit := pageLimit(listStreamsMax, in.Limit)
	names := h.eng.ListStreams() // sorted
	start := sort.SearchStrings(names, after)
	if start < len(names) && names[start] == after && after != "" {
		start++
	}
	out := &ListStreamsOutput{StreamNames: []string{}, StreamSummaries: []StreamSummary{}}
	i := start
	for ; i < len(names) && len(out.StreamNames) < limit; i++ {
		si, err := h.eng.DescribeStream(names[i])
		if err != nil {
			continue // deleted since ListStreams
		}
		out.StreamNames = append(out.StreamNames, si.Name)
		out.StreamSummaries = append(out.StreamSummaries, StreamSummary{
			StreamName: si.Name, StreamARN: h.scope.StreamARN(si.Name), StreamStatus: StreamStatus(si.Status),
			StreamModeDetails: modeDetails(si), StreamCreationTimestamp: TimestampFromTime(si.Created),
		})
	}
	if i < len(names) && len(out.StreamNames) > 0 {
		out.HasMoreStreams = true
		out.NextToken = h.tokens.encode(pageToken{kind: pageListStreams, after: out.StreamNames[len(out.StreamNames)-1]})
	}
	return out, nil
}

func (h *Handler) updateStreamMode(_ context.Context, in *UpdateStreamModeInput) (any, error) {
	name, err := h.streamOf("", in.StreamARN)
	if err != nil {
		return nil, err
	}
	if in.WarmThroughputMiBps != nil && *in.WarmThroughputMiBps > 0 {
		return nil, Errorf(CodeInvalidArgument, "WarmThroughputMiBps is not supported: sluice has no warm throughput; leave it out or give 0")
	}
	mode := api.StreamMode(in.StreamModeDetails.StreamMode)
	if mode == api.OnDemand {
		si, err := h.describe(name)
		if err != nil {
			return nil, err
		}
		if si.Mode != api.OnDemand {
			if err := h.checkOnDemandLimit(); err != nil {
				return nil, err
			}
		}
	}
	if err := h.eng.SetStreamMode(name, mode); err != nil {
		return nil, h.engErr(err)
	}
	return &EmptyOutput{}, nil
}

// retentionInput validates a retention request and resolves its stream.
func (h *Handler) retentionInput(in *RetentionPeriodInput) (string, int, error) {
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return "", 0, err
	}
	hours := int(*in.RetentionPeriodHours)
	if hours < api.MinRetentionHours || hours > api.MaxRetentionHours {
		// A missing stream is reported first, as AWS does.
		if _, err := h.describe(name); err != nil {
			return "", 0, err
		}
	}
	switch {
	case hours < api.MinRetentionHours:
		return "", 0, Errorf(CodeInvalidArgument, "Minimum allowed retention period is %d hours. Requested retention period (%d hours) is too short.", api.MinRetentionHours, hours)
	case hours > api.MaxRetentionHours:
		return "", 0, Errorf(CodeInvalidArgument, "Maximum allowed retention period is %d hours. Requested retention period (%d hours) is too long.", api.MaxRetentionHours, hours)
	}
	return name, hours, nil
}

func (h *Handler) increaseStreamRetentionPeriod(_ context.Context, in *RetentionPeriodInput) (any, error) {
	name, hours, err := h.retentionInput(in)
	if err != nil {
		return nil, err
	}
	if err := h.eng.IncreaseRetention(name, hours); err != nil {
		return nil, h.engErr(err)
	}
	return &EmptyOutput{}, nil
}

func (h *Handler) decreaseStreamRetentionPeriod(_ context.Context, in *RetentionPeriodInput) (any, error) {
	name, hours, err := h.retentionInput(in)
	if err != nil {
		return nil, err
	}
	if err := h.eng.DecreaseRetention(name, hours); err != nil {
		return nil, h.engErr(err)
	}
	return &EmptyOutput{}, nil
}

// encryptionInput validates a Start/StopStreamEncryption request and
// resolves its stream.
func (h *Handler) encryptionInput(in *StreamEncryptionInput) (string, error) {
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return "", err
	}
	if in.EncryptionType != EncryptionTypeKMS {
		// A missing stream is reported first, as AWS does.
		if _, err := h.describe(name); err != nil {
			return "", err
		}
		return "", Errorf(CodeInvalidArgument, "EncryptionType %s is not supported; the only encryption type is KMS", in.EncryptionType)
	}
	return name, nil
}

// startStreamEncryption encrypts the records put to the stream from now on
// at rest under the given key, which streams report (EncryptionType, KeyId,
// per record). A missing key is KMSNotFoundException, a disabled one
// KMSDisabledException; with --auth the caller also needs kms:DescribeKey
// on the key (judgeInput).
func (h *Handler) startStreamEncryption(_ context.Context, in *StreamEncryptionInput) (any, error) {
	name, err := h.encryptionInput(in)
	if err != nil {
		return nil, err
	}
	if err := h.eng.SetEncryption(name, string(EncryptionTypeKMS), in.KeyId); err != nil {
		return nil, h.engErr(err)
	}
	h.forget(name)
	return &EmptyOutput{}, nil
}

func (h *Handler) stopStreamEncryption(_ context.Context, in *StreamEncryptionInput) (any, error) {
	name, err := h.encryptionInput(in)
	if err != nil {
		return nil, err
	}
	si, err := h.describe(name)
	if err != nil {
		return nil, err
	}
	if si.EncryptionType == string(EncryptionTypeKMS) && si.KeyID != in.KeyId {
		return nil, Errorf(CodeInvalidArgument, "Stream %s under account %s is encrypted with key %s, not %s", name, h.scope.Account, si.KeyID, in.KeyId)
	}
	if err := h.eng.SetEncryption(name, string(EncryptionTypeNone), ""); err != nil {
		return nil, h.engErr(err)
	}
	h.forget(name)
	return &EmptyOutput{}, nil
}

var shardLevelMetrics = []string{
	string(MetricsNameIncomingBytes), string(MetricsNameIncomingRecords), string(MetricsNameOutgoingBytes),
	string(MetricsNameOutgoingRecords), string(MetricsNameWriteProvisionedThroughputExceeded),
	string(MetricsNameReadProvisionedThroughputExceeded), string(MetricsNameIteratorAgeMilliseconds), string(MetricsNameAll),
}

func (h *Handler) enableEnhancedMonitoring(_ context.Context, in *EnhancedMonitoringInput) (any, error) {
	return h.setMonitoring(in, true)
}

func (h *Handler) disableEnhancedMonitoring(_ context.Context, in *EnhancedMonitoringInput) (any, error) {
	return h.setMonitoring(in, false)
}

func (h *Handler) setMonitoring(in *EnhancedMonitoringInput, enable bool) (any, error) {
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	metrics := make([]string, len(in.ShardLevelMetrics))
	for i, m := range in.ShardLevelMetrics {
		metrics[i] = string(m)
	}
	before, after, err := h.eng.SetMonitoring(name, metrics, enable)
	if err != nil {
		return nil, h.engErr(err)
	}
	return &EnhancedMonitoringOutput{
		StreamName: name, StreamARN: h.scope.StreamARN(name),
		CurrentShardLevelMetrics: metricNames(before), DesiredShardLevelMetrics: metricNames(after),
	}, nil
}

func metricNames(s []string) []MetricsName {
	out := make([]MetricsName, len(s))
	for i, m := range s {
		out[i] = MetricsName(m)
	}
	return out
}

func (h *Handler) updateMaxRecordSize(_ context.Context, in *UpdateMaxRecordSizeInput) (any, error) {
	name, err := h.streamOf("", in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := h.eng.SetMaxRecordSize(name, int(*in.MaxRecordSizeInKiB)<<10); err != nil {
		return nil, h.engErr(err)
	}
	return &EmptyOutput{}, nil
}

func (h *Handler) describeLimits(_ context.Context, _ *DescribeLimitsInput) (any, error) {
	out := &DescribeLimitsOutput{ShardLimit: describedShardLimit, OnDemandStreamCountLimit: OnDemandStreamLimit}
	for _, name := range h.eng.ListStreams() {
		si, err := h.eng.DescribeStream(name)
		if err != nil {
			continue
		}
		out.OpenShardCount += int32(si.OpenShardCount())
		if si.Mode == api.OnDemand {
			out.OnDemandStreamCount++
		}
	}
	return out, nil
}
