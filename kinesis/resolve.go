package kinesis

import (
	"strings"
	"time"

	"github.com/sluicedb/sluice/api"
)

// Resolution of the names and ARNs requests carry into engine streams and
// consumers, and conversion of engine descriptions into API shapes.

// streamOf returns the stream a request names by StreamName, StreamARN or
// both (they must then agree). The members' syntax is checked beforehand by
// the validator.
func (h *Handler) streamOf(name, arn string) (string, error) {
	if arn == "" {
		if name == "" {
			return "", Errorf(CodeInvalidArgument, "Either StreamName or StreamARN must be provided.")
		}
		return name, nil
	}
	a, err := ParseARN(arn)
	if err != nil {
		return "", Errorf(CodeInvalidArgument, "StreamARN %s is not a valid stream ARN: %s", arn, strings.TrimPrefix(err.Error(), "kinesis: "))
	}
	if a.IsConsumer() {
		return "", Errorf(CodeInvalidArgument, "StreamARN %s is a consumer ARN; give the ARN of the stream", arn)
	}
	if !h.scope.Owns(a) {
		return "", h.streamNotFound(a.Stream, a.Account)
	}
	if name != "" && name != a.Stream {
		return "", Errorf(CodeInvalidArgument, "StreamName %s and StreamARN %s name different streams; give one of them", name, arn)
	}
	return a.Stream, nil
}

// streamNotFound is AWS's ResourceNotFoundException for a stream.
func (h *Handler) streamNotFound(name, account string) *Error {
	if account == "" {
		account = h.scope.Account
	}
	return Errorf(CodeResourceNotFound, "Stream %s under account %s not found.", name, account)
}

// maxShardNumber is the largest shard number Kinesis reads from a shard id
// (a Java int).
const maxShardNumber = 1<<31 - 1

// shardNumber reads a shard id as Kinesis does: the decimal number after
// its last hyphen (or the whole id, without one) names the shard, so
// "shardId-000000000001", "anything-1" and "1" all name shard 1. ok is false
// when that is not a number up to maxShardNumber.
func shardNumber(id string) (n int, ok bool) {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '-' {
			id = id[i+1:]
			break
		}
	}
	if id == "" {
		return 0, false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > maxShardNumber {
			return 0, false
		}
	}
	return n, true
}

// canonicalShardID returns the shard id a request's id names in sluice's
// (and AWS's) spelling, shardId- and 12 digits, or id as it is when it
// names no shard.
func canonicalShardID(id string) string {
	if n, ok := shardNumber(id); ok {
		return api.ShardID(n)
	}
	return id
}

// shardOfRequest returns the shard a request's shard id names in stream,
// which it checks exists first (as AWS does, a missing stream is reported
// before a malformed shard id): ResourceNotFoundException "Could not find
// shard ..." when the id names no shard.
func (h *Handler) shardOfRequest(id, stream string) (int, error) {
	n, ok := shardNumber(id)
	if ok {
		return n, nil
	}
	if _, err := h.describe(stream); err != nil {
		return 0, err
	}
	return 0, Errorf(CodeResourceNotFound, "Could not find shard %s in stream %s under account %s.", id, stream, h.scope.Account)
}

// consumerNotFound is AWS's ResourceNotFoundException for a consumer.
func (h *Handler) consumerNotFound(arn string) *Error {
	return Errorf(CodeResourceNotFound, "Consumer %s not found.", arn)
}

// consumerRef is a resolved, existing consumer.
type consumerRef struct {
	stream string
	info   api.ConsumerInfo
	arn    string
}

// consumerOf resolves a consumer ARN to a registered consumer. The ARN
// carries the registration time, so the ARN of a deregistered consumer does
// not name one registered again under the same name.
func (h *Handler) consumerOf(arn string) (consumerRef, error) {
	a, err := ParseARN(arn)
	if err != nil || !a.IsConsumer() {
		return consumerRef{}, Errorf(CodeInvalidArgument, "ConsumerARN %s is not a valid consumer ARN", arn)
	}
	if !h.scope.Owns(a) {
		return consumerRef{}, h.consumerNotFound(arn)
	}
	info, err := h.eng.Consumer(a.Stream, a.Consumer)
	if err != nil {
		if api.CodeOf(err) == api.CodeResourceNotFound {
			return consumerRef{}, h.consumerNotFound(arn)
		}
		return consumerRef{}, h.engErr(err)
	}
	if info.Created.Unix() != a.ConsumerCreated {
		return consumerRef{}, h.consumerNotFound(arn)
	}
	return consumerRef{stream: a.Stream, info: info, arn: arn}, nil
}

// consumerByName resolves a stream ARN and a consumer name.
func (h *Handler) consumerByName(streamARN, name string) (consumerRef, error) {
	stream, err := h.streamOf("", streamARN)
	if err != nil {
		return consumerRef{}, err
	}
	info, err := h.eng.Consumer(stream, name)
	if err != nil {
		return consumerRef{}, h.engErr(err)
	}
	return consumerRef{stream: stream, info: info, arn: h.scope.ConsumerARN(stream, name, info.Created)}, nil
}

// resourceOf resolves the ResourceARN of the tagging and policy operations:
// a stream (consumer empty) or a registered consumer.
func (h *Handler) resourceOf(arn string) (stream, consumer string, err error) {
	a, perr := ParseARN(arn)
	if perr != nil {
		return "", "", Errorf(CodeInvalidArgument, "ResourceARN %s is not a valid stream or consumer ARN: %s", arn, strings.TrimPrefix(perr.Error(), "kinesis: "))
	}
	if !a.IsConsumer() {
		name, err := h.streamOf("", arn)
		if err != nil {
			return "", "", err
		}
		if _, err := h.eng.DescribeStream(name); err != nil {
			return "", "", h.engErr(err)
		}
		return name, "", nil
	}
	c, err := h.consumerOf(arn)
	if err != nil {
		return "", "", err
	}
	return c.stream, c.info.Name, nil
}

// describe returns a stream's description.
func (h *Handler) describe(name string) (*api.StreamInfo, error) {
	si, err := h.eng.DescribeStream(name)
	return si, h.engErr(err)
}

// streamFacts is what the data path reports of a stream without asking the
// engine on every call, and what authorizing a request on it needs: the
// stream's ARN, built once, and its compiled resource policy.
type streamFacts struct {
	enc     EncryptionType
	arn     string
	policy  policyCache
	fetched time.Time
}

// streamFactsTTL bounds how stale the cached encryption type of a stream may
// be when another front door changed it (changes made through this handler
// take effect at once).
const streamFactsTTL = time.Second

// factsOf returns the cached facts of a stream, refreshed every
// streamFactsTTL, or nil when it does not exist.
func (h *Handler) factsOf(name string) *streamFacts {
	v, ok := h.streams.Load(name)
	var old *streamFacts
	if ok {
		old = v.(*streamFacts)
		if time.Since(old.fetched) < streamFactsTTL {
			return old
		}
	}
	si, err := h.eng.DescribeStream(name)
	if err != nil {
		return nil
	}
	f := &streamFacts{enc: encryptionTypeOf(si), arn: h.scope.StreamARN(name), fetched: time.Now()}
	if old != nil {
		f.policy.entry.Store(old.policy.entry.Load()) // compiled again only if it changed
	}
	h.streams.Store(name, f)
	return f
}

// encryptionOf returns the EncryptionType of a stream for PutRecord(s) and
// GetRecords responses, from a cache refreshed every streamFactsTTL.
func (h *Handler) encryptionOf(name string) EncryptionType {
	if f := h.factsOf(name); f != nil {
		return f.enc
	}
	return EncryptionTypeNone
}

// forget drops the cached facts of a stream after a change through this handler.
func (h *Handler) forget(name string) { h.streams.Delete(name) }

func encryptionTypeOf(si *api.StreamInfo) EncryptionType {
	if si.EncryptionType == "" {
		return EncryptionTypeNone
	}
	return EncryptionType(si.EncryptionType)
}

// shardOf converts an engine shard description.
func shardOf(si *api.ShardInfo) Shard {
	s := Shard{
		ShardId:               si.ID,
		ParentShardId:         si.Parent,
		AdjacentParentShardId: si.AdjacentParent,
		HashKeyRange:          HashKeyRange{StartingHashKey: si.HashStart.String(), EndingHashKey: si.HashEnd.String()},
		SequenceNumberRange:   SequenceNumberRange{StartingSequenceNumber: si.StartingSeq.String()},
	}
	if si.Closed {
		s.SequenceNumberRange.EndingSequenceNumber = si.EndingSeq.String()
	}
	return s
}

// childShardsOf converts the children a read reports.
func childShardsOf(children []api.ShardInfo) []ChildShard {
	out := make([]ChildShard, len(children))
	for i := range children {
		c := &children[i]
		parents := []string{c.Parent}
		if c.AdjacentParent != "" {
			parents = append(parents, c.AdjacentParent)
		}
		out[i] = ChildShard{
			ShardId:      c.ID,
			ParentShards: parents,
			HashKeyRange: HashKeyRange{StartingHashKey: c.HashStart.String(), EndingHashKey: c.HashEnd.String()},
		}
	}
	return out
}

// modeDetails returns the StreamModeDetails of a stream.
func modeDetails(si *api.StreamInfo) *StreamModeDetails {
	mode := StreamMode(si.Mode)
	if mode == "" {
		mode = StreamModeProvisioned
	}
	return &StreamModeDetails{StreamMode: mode}
}

// monitoringOf returns a stream's EnhancedMonitoring member.
func monitoringOf(si *api.StreamInfo) []EnhancedMetrics {
	metrics := make([]MetricsName, len(si.Monitoring))
	for i, m := range si.Monitoring {
		metrics[i] = MetricsName(m)
	}
	return []EnhancedMetrics{{ShardLevelMetrics: metrics}}
}

// summaryOf builds DescribeStreamSummary's description of a stream.
func (h *Handler) summaryOf(si *api.StreamInfo) StreamDescriptionSummary {
	s := StreamDescriptionSummary{
		StreamName:              si.Name,
		StreamARN:               h.scope.StreamARN(si.Name),
		StreamStatus:            StreamStatus(si.Status),
		StreamModeDetails:       modeDetails(si),
		RetentionPeriodHours:    int32(si.RetentionHours),
		StreamCreationTimestamp: TimestampFromTime(si.Created),
		EnhancedMonitoring:      monitoringOf(si),
		EncryptionType:          encryptionTypeOf(si),
		KeyId:                   si.KeyID,
		OpenShardCount:          int32(si.OpenShardCount()),
		ConsumerCount:           int32(len(si.Consumers)),
		MaxRecordSizeInKiB:      int32(si.MaxRecordSize >> 10),
	}
	return s
}

// consumerOut builds the Consumer shape.
func (h *Handler) consumerOut(stream string, c api.ConsumerInfo) Consumer {
	return Consumer{
		ConsumerName:              c.Name,
		ConsumerARN:               h.scope.ConsumerARN(stream, c.Name, c.Created),
		ConsumerStatus:            ConsumerStatus(c.Status),
		ConsumerCreationTimestamp: TimestampFromTime(c.Created),
	}
}

// describeValid describes the stream that name or arn (the StreamName and
// StreamARN members) selects.
func (h *Handler) describeValid(name, arn string) (*api.StreamInfo, error) {
	stream, err := h.streamOf(name, arn)
	if err != nil {
		return nil, err
	}
	return h.describe(stream)
}

// pagedStream describes the stream a listing (ListShards,
// ListStreamConsumers) pages. inc is the incarnation its NextToken was issued
// for (0 without a token): a stream deleted and created again since gives
// ExpiredNextTokenException. created is the StreamCreationTimestamp member: a
// stream created at another time is not the one asked for.
func (h *Handler) pagedStream(name string, inc uint32, created Timestamp) (*api.StreamInfo, error) {
	si, err := h.describe(name)
	if err != nil {
		return nil, err
	}
	if inc != 0 && si.Incarnation != inc {
		return nil, Errorf(CodeExpiredNextToken, "NextToken is for an earlier stream named %s, which was deleted; list again without it", name)
	}
	if !created.IsZero() && created.Millis() != si.Created.UnixMilli() {
		return nil, h.streamNotFound(name, "")
	}
	return si, nil
}

// pageLimit is the number of entries one page holds: max, or the Limit or
// MaxResults member of the request when it is smaller.
func pageLimit(max int, limit *int32) int {
	if limit != nil && int(*limit) < max {
		return int(*limit)
	}
	return max
}
