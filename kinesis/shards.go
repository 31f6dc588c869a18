package kinesis

import (
	"context"
	"time"

	"github.com/sluicedb/sluice/api"
)

// Shard listing and resharding.

// listShardsMax is the most shards one ListShards returns.
const listShardsMax = 1000

var shardFilterTypes = []string{
	string(ShardFilterTypeAfterShardId), string(ShardFilterTypeAtTrimHorizon), string(ShardFilterTypeFromTrimHorizon),
	string(ShardFilterTypeAtLatest), string(ShardFilterTypeAtTimestamp), string(ShardFilterTypeFromTimestamp),
}

func (h *Handler) listShards(_ context.Context, in *ListShardsInput) (any, error) {
	var (
		name   string
		inc    uint32
		after  = canonicalShardID(in.ExclusiveStartShardId)
		filter ShardFilter
	)
	if in.NextToken != "" {
		switch {
		case in.StreamName != "" || in.StreamARN != "":
			return nil, Errorf(CodeInvalidArgument, "NextToken and StreamName cannot be provided together.")
		case in.ExclusiveStartShardId != "":
			return nil, Errorf(CodeInvalidArgument, "NextToken and ExclusiveStartShardId cannot be provided together.")
		case !in.StreamCreationTimestamp.IsZero():
			return nil, Errorf(CodeInvalidArgument, "NextToken and StreamCreationTimestamp cannot be provided together.")
		}
		t, err := h.tokens.decode(in.NextToken, pageListShards)
		if err != nil {
			return nil, err
		}
		name, inc, after, filter = t.stream, t.incarnation, t.after, t.filter
	} else {
		if in.StreamName == "" && in.StreamARN == "" {
			return nil, Errorf(CodeInvalidArgument, "Either NextToken or StreamName should be provided.")
		}
		var err error
		if name, err = h.streamOf(in.StreamName, in.StreamARN); err != nil {
			return nil, err
		}
		if in.ShardFilter != nil {
			filter = *in.ShardFilter
			filter.ShardId = canonicalShardID(filter.ShardId)
			if err := checkShardFilter(&filter); err != nil {
				return nil, err
			}
		}
	}
	si, err := h.pagedStream(name, inc, in.StreamCreationTimestamp)
	if err != nil {
		return nil, err
	}
	limit := pageLimit(listShardsMax, in.MaxResults)
	keep := shardFilterFunc(si, filter, h.now())
	out := &ListShardsOutput{Shards: []Shard{}}
	shards := sortedShards(si)
	more := false
	for i := range shards {
		s := &shards[i]
		if (after != "" && s.ID <= after) || !keep(s) {
			continue
		}
		if len(out.Shards) == limit {
			more = true
			break
		}
		out.Shards = append(out.Shards, shardOf(s))
	}
	if more {
		out.NextToken = h.tokens.encode(pageToken{
			kind: pageListShards, stream: name, incarnation: si.Incarnation,
			after: out.Shards[len(out.Shards)-1].ShardId, filter: filter,
		})
	}
	return out, nil
}

// checkShardFilter checks that a filter carries what its type needs and nothing else.
func checkShardFilter(f *ShardFilter) error {
	switch f.Type {
	case ShardFilterTypeAfterShardId:
		if f.ShardId == "" {
			return Errorf(CodeInvalidArgument, "ShardFilter of type AFTER_SHARD_ID requires a ShardId")
		}
	case ShardFilterTypeAtTimestamp, ShardFilterTypeFromTimestamp:
		if f.Timestamp.IsZero() {
			return Errorf(CodeInvalidArgument, "ShardFilter of type %s requires a Timestamp", f.Type)
		}
	}
	if f.ShardId != "" && f.Type != ShardFilterTypeAfterShardId {
		return Errorf(CodeInvalidArgument, "ShardFilter of type %s takes no ShardId; ShardId goes with AFTER_SHARD_ID", f.Type)
	}
	if !f.Timestamp.IsZero() && f.Type != ShardFilterTypeAtTimestamp && f.Type != ShardFilterTypeFromTimestamp {
		return Errorf(CodeInvalidArgument, "ShardFilter of type %s takes no Timestamp; Timestamp goes with AT_TIMESTAMP and FROM_TIMESTAMP", f.Type)
	}
	return nil
}

// shardFilterFunc returns the predicate of a ShardFilter over a stream's
// shards. A shard is open from its creation to the creation of its children;
// the trim horizon is the older of now minus the retention period and the
// stream's creation.
func shardFilterFunc(si *api.StreamInfo, f ShardFilter, now time.Time) func(*api.ShardInfo) bool {
	closedAt := map[string]time.Time{}
	for i := range si.Shards {
		s := &si.Shards[i]
		for _, p := range [...]string{s.Parent, s.AdjacentParent} {
			if p == "" {
				continue
			}
			if t, ok := closedAt[p]; !ok || s.Created.Before(t) {
				closedAt[p] = s.Created
			}
		}
	}
	end := func(s *api.ShardInfo) (time.Time, bool) { // when a closed shard closed
		if !s.Closed {
			return time.Time{}, false
		}
		if t, ok := closedAt[s.ID]; ok {
			return t, true
		}
		return now, true // closed, children not installed yet
	}
	openSince := func(s *api.ShardInfo, t time.Time) bool { // open at t or later
		e, closed := end(s)
		return !closed || !e.Before(t)
	}
	openAt := func(s *api.ShardInfo, t time.Time) bool { // both ends inclusive, as AWS documents
		return !s.Created.After(t) && openSince(s, t)
	}
	trim := now.Add(-time.Duration(si.RetentionHours) * time.Hour)
	if trim.Before(si.Created) {
		trim = si.Created
	}
	clamp := func(t time.Time) time.Time {
		if t.Before(si.Created) {
			return si.Created
		}
		return t
	}
	switch f.Type {
	case ShardFilterTypeAfterShardId:
		return func(s *api.ShardInfo) bool { return s.ID > f.ShardId }
	case ShardFilterTypeAtTrimHorizon:
		return func(s *api.ShardInfo) bool { return openAt(s, trim) }
	case ShardFilterTypeFromTrimHorizon:
		return func(s *api.ShardInfo) bool { return openSince(s, trim) }
	case ShardFilterTypeAtLatest:
		return func(s *api.ShardInfo) bool { return !s.Closed }
	case ShardFilterTypeAtTimestamp:
		ts := clamp(f.Timestamp.Time())
		return func(s *api.ShardInfo) bool { return openAt(s, ts) }
	case ShardFilterTypeFromTimestamp:
		ts := clamp(f.Timestamp.Time())
		return func(s *api.ShardInfo) bool { return openSince(s, ts) }
	}
	return func(*api.ShardInfo) bool { return true }
}

// provisioned resolves the stream of a resharding operation, which AWS allows
// on PROVISIONED streams only: it returns the stream's name and description.
func (h *Handler) provisioned(op, streamName, arn string) (string, *api.StreamInfo, error) {
	name, err := h.streamOf(streamName, arn)
	if err != nil {
		return "", nil, err
	}
	si, err := h.describe(name)
	if err != nil {
		return "", nil, err
	}
	if si.Mode == api.OnDemand {
		return "", nil, Errorf(CodeValidation, "%s is not supported for stream %s under account %s: it is in ON_DEMAND mode, which scales its shards itself", op, name, h.scope.Account)
	}
	return name, si, nil
}

// shardIndex returns the canonical id of the shard a resharding request's
// shard id names (see shardOfRequest).
func (h *Handler) shardIndex(id, stream string) (string, error) {
	n, err := h.shardOfRequest(id, stream)
	if err != nil {
		return "", err
	}
	return api.ShardID(n), nil
}

func (h *Handler) splitShard(_ context.Context, in *SplitShardInput) (any, error) {
	name, _, err := h.provisioned("SplitShard", in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	shard, err := h.shardIndex(in.ShardToSplit, name)
	if err != nil {
		return nil, err
	}
	hk, err := api.ParseHashKey(in.NewStartingHashKey)
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not within [0, 2^128-1]",
			in.NewStartingHashKey, in.ShardToSplit, name, h.scope.Account)
	}
	if err := h.eng.SplitShard(name, shard, hk); err != nil {
		return nil, h.engErr(err)
	}
	return &EmptyOutput{}, nil
}

func (h *Handler) mergeShards(_ context.Context, in *MergeShardsInput) (any, error) {
	name, _, err := h.provisioned("MergeShards", in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	shard, err := h.shardIndex(in.ShardToMerge, name)
	if err != nil {
		return nil, err
	}
	adjacent, err := h.shardIndex(in.AdjacentShardToMerge, name)
	if err != nil {
		return nil, err
	}
	if err := h.eng.MergeShards(name, shard, adjacent); err != nil {
		return nil, h.engErr(err)
	}
	return &EmptyOutput{}, nil
}

func (h *Handler) updateShardCount(_ context.Context, in *UpdateShardCountInput) (any, error) {
	name, si, err := h.provisioned("UpdateShardCount", in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	target := int(*in.TargetShardCount)
	if target > api.MaxShardsPerStream {
		return nil, Errorf(CodeLimitExceeded, "TargetShardCount is %d; a stream may have at most %d shards", target, api.MaxShardsPerStream)
	}
	current := si.OpenShardCount()
	if err := h.eng.UpdateShardCount(name, target); err != nil {
		return nil, h.engErr(err)
	}
	return &UpdateShardCountOutput{
		StreamName: name, StreamARN: h.scope.StreamARN(name),
		CurrentShardCount: int32(current), TargetShardCount: int32(target),
	}, nil
}
