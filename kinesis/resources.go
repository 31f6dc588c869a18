package kinesis

import (
	"context"
	"sort"
	"strings"
	"unicode"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
)

// Tags, enhanced fan-out consumers and resource policies.

// validTagText reports whether a tag key or value uses only the characters
// AWS allows: Unicode letters, digits, white space and _ . / = + - % @.
func validTagText(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !strings.ContainsRune("_./=+-%@:", r) {
			return false
		}
	}
	return true
}

// checkTagText refuses tags with characters AWS does not allow.
func checkTagText(tags map[string]string) error {
	for k, v := range tags {
		if !validTagText(k) || !validTagText(v) {
			return Errorf(CodeInvalidArgument, "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - %% @.")
		}
	}
	return nil
}

// sortedTags returns tags as a list sorted by key.
func sortedTags(m map[string]string) []Tag {
	out := make([]Tag, 0, len(m))
	for k, v := range m {
		out = append(out, Tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// addTags adds or replaces tags of a stream (AddTagsToStream, TagResource).
func (h *Handler) addTags(stream string, tags map[string]string) (any, error) {
	if err := checkTagText(tags); err != nil {
		return nil, err
	}
	if err := h.eng.AddTags(stream, tags); err != nil {
		return nil, h.engErr(err)
	}
	return &EmptyOutput{}, nil
}

// removeTags removes tags of a stream (RemoveTagsFromStream, UntagResource).
func (h *Handler) removeTags(stream string, keys []string) (any, error) {
	if err := h.eng.RemoveTags(stream, keys); err != nil {
		return nil, h.engErr(err)
	}
	return &EmptyOutput{}, nil
}

func (h *Handler) addTagsToStream(_ context.Context, in *AddTagsToStreamInput) (any, error) {
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	return h.addTags(name, in.Tags)
}

func (h *Handler) removeTagsFromStream(_ context.Context, in *RemoveTagsFromStreamInput) (any, error) {
	name, err := h.streamOf(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	return h.removeTags(name, in.TagKeys)
}

func (h *Handler) listTagsForStream(_ context.Context, in *ListTagsForStreamInput) (any, error) {
	si, err := h.describeValid(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	limit := api.MaxTags
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	out := &ListTagsForStreamOutput{Tags: []Tag{}}
	for _, t := range sortedTags(si.Tags) {
		if in.ExclusiveStartTagKey != "" && t.Key <= in.ExclusiveStartTagKey {
			continue
		}
		if len(out.Tags) == limit {
			out.HasMoreTags = true
			break
		}
		out.Tags = append(out.Tags, t)
	}
	return out, nil
}

// errConsumerTags reports the tagging of a consumer after its registration,
// which the engine does not offer (tags given to RegisterStreamConsumer are
// kept and listed).
func errConsumerTags(arn string) error {
	return Errorf(CodeInvalidArgument, "Resource %s is a consumer: sluice keeps the tags given to RegisterStreamConsumer and cannot change them afterwards", arn)
}

// taggedStream is resourceOf for TagResource and UntagResource, which
// change the tags of streams only.
func (h *Handler) taggedStream(arn string) (string, error) {
	stream, consumer, err := h.resourceOf(arn)
	if err != nil {
		return "", err
	}
	if consumer != "" {
		return "", errConsumerTags(arn)
	}
	return stream, nil
}

func (h *Handler) tagResource(_ context.Context, in *TagResourceInput) (any, error) {
	stream, err := h.taggedStream(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return h.addTags(stream, in.Tags)
}

func (h *Handler) untagResource(_ context.Context, in *UntagResourceInput) (any, error) {
	stream, err := h.taggedStream(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return h.removeTags(stream, in.TagKeys)
}

func (h *Handler) listTagsForResource(_ context.Context, in *ResourceInput) (any, error) {
	stream, consumer, err := h.resourceOf(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	if consumer != "" {
		c, err := h.eng.Consumer(stream, consumer)
		if err != nil {
			return nil, h.engErr(err)
		}
		return &ListTagsForResourceOutput{Tags: sortedTags(c.Tags)}, nil
	}
	si, err := h.describe(stream)
	if err != nil {
		return nil, err
	}
	return &ListTagsForResourceOutput{Tags: sortedTags(si.Tags)}, nil
}

func (h *Handler) registerStreamConsumer(_ context.Context, in *RegisterStreamConsumerInput) (any, error) {
	name, err := h.streamOf("", in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := checkTagText(in.Tags); err != nil {
		return nil, err
	}
	c, err := h.eng.RegisterConsumer(name, in.ConsumerName, in.Tags)
	if err != nil {
		return nil, h.engErr(err)
	}
	return &RegisterStreamConsumerOutput{Consumer: h.consumerOut(name, c)}, nil
}

// consumerInput validates and resolves a consumer named by ConsumerARN, or
// by StreamARN and ConsumerName.
func (h *Handler) consumerInput(in *ConsumerInput) (consumerRef, error) {
	if in.ConsumerARN != "" {
		c, err := h.consumerOf(in.ConsumerARN)
		if err != nil {
			return c, err
		}
		if (in.ConsumerName != "" && in.ConsumerName != c.info.Name) || (in.StreamARN != "" && in.StreamARN != h.scope.StreamARN(c.stream)) {
			return consumerRef{}, Errorf(CodeInvalidArgument, "ConsumerARN %s names another consumer than StreamARN and ConsumerName; give the ARN alone", in.ConsumerARN)
		}
		return c, nil
	}
	if in.StreamARN == "" || in.ConsumerName == "" {
		return consumerRef{}, Errorf(CodeInvalidArgument, "Name the consumer by ConsumerARN, or by StreamARN and ConsumerName.")
	}
	return h.consumerByName(in.StreamARN, in.ConsumerName)
}

func (h *Handler) describeStreamConsumer(_ context.Context, in *ConsumerInput) (any, error) {
	c, err := h.consumerInput(in)
	if err != nil {
		return nil, err
	}
	out := h.consumerOut(c.stream, c.info)
	return &DescribeStreamConsumerOutput{ConsumerDescription: ConsumerDescription{
		ConsumerName: out.ConsumerName, ConsumerARN: out.ConsumerARN, ConsumerStatus: out.ConsumerStatus,
		ConsumerCreationTimestamp: out.ConsumerCreationTimestamp, StreamARN: h.scope.StreamARN(c.stream),
	}}, nil
}

func (h *Handler) deregisterStreamConsumer(_ context.Context, in *ConsumerInput) (any, error) {
	c, err := h.consumerInput(in)
	if err != nil {
		return nil, err
	}
	if err := h.eng.DeregisterConsumer(c.stream, c.info.Name); err != nil {
		return nil, h.engErr(err)
	}
	h.subs.endConsumer(c.arn)
	h.forgetConsumer(c.arn)
	return &EmptyOutput{}, nil
}

// listConsumersMax is the most consumers one ListStreamConsumers returns.
const listConsumersMax = 100

func (h *Handler) listStreamConsumers(_ context.Context, in *ListStreamConsumersInput) (any, error) {
	var (
		name  string
		after string
		inc   uint32
	)
	if in.NextToken != "" {
		t, err := h.tokens.decode(in.NextToken, pageListConsumers)
		if err != nil {
			return nil, err
		}
		name, after, inc = t.stream, t.after, t.incarnation
		if in.StreamARN != "" && in.StreamARN != h.scope.StreamARN(name) {
			return nil, Errorf(CodeInvalidArgument, "NextToken pages the consumers of stream %s, not of %s", name, in.StreamARN)
		}
	} else {
		var err error
		if name, err = h.streamOf("", in.StreamARN); err != nil {
			return nil, err
		}
	}
	si, err := h.pagedStream(name, inc, in.StreamCreationTimestamp)
	if err != nil {
		return nil, err
	}
	limit := pageLimit(listConsumersMax, in.MaxResults)
	consumers := si.Consumers
	sort.Slice(consumers, func(i, j int) bool { return consumers[i].Name < consumers[j].Name })
	out := &ListStreamConsumersOutput{Consumers: []Consumer{}}
	for _, c := range consumers {
		if after != "" && c.Name <= after {
			continue
		}
		if len(out.Consumers) == limit {
			out.NextToken = h.tokens.encode(pageToken{kind: pageListConsumers, stream: name, incarnation: si.Incarnation,
				after: out.Consumers[len(out.Consumers)-1].ConsumerName})
			break
		}
		out.Consumers = append(out.Consumers, h.consumerOut(name, c))
	}
	return out, nil
}

func (h *Handler) putResourcePolicy(_ context.Context, in *PutResourcePolicyInput) (any, error) {
	stream, consumer, err := h.resourceOf(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	if _, err := auth.ParseResourcePolicy([]byte(in.Policy)); err != nil {
		return nil, Errorf(CodeInvalidArgument, "Policy refused: %v", err)
	}
	if err := h.eng.SetPolicy(stream, consumer, in.Policy); err != nil {
		return nil, h.engErr(err)
	}
	h.forgetPolicy(stream, consumer, in.ResourceARN)
	return &EmptyOutput{}, nil
}

func (h *Handler) getResourcePolicy(_ context.Context, in *ResourceInput) (any, error) {
	policy, err := h.resourcePolicy(in)
	if err != nil {
		return nil, err
	}
	if policy == "" {
		policy = "{}"
	}
	return &GetResourcePolicyOutput{Policy: policy}, nil
}

func (h *Handler) deleteResourcePolicy(_ context.Context, in *ResourceInput) (any, error) {
	policy, err := h.resourcePolicy(in)
	if err != nil {
		return nil, err
	}
	if policy == "" {
		return nil, Errorf(CodeResourceNotFound, "No resource policy found for resource %s.", in.ResourceARN)
	}
	stream, consumer, err := h.resourceOf(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	if err := h.eng.SetPolicy(stream, consumer, ""); err != nil {
		return nil, h.engErr(err)
	}
	h.forgetPolicy(stream, consumer, in.ResourceARN)
	return &EmptyOutput{}, nil
}

// resourcePolicy validates a ResourceInput and returns the resource's policy
// ("" if none).
func (h *Handler) resourcePolicy(in *ResourceInput) (string, error) {
	stream, consumer, err := h.resourceOf(in.ResourceARN)
	if err != nil {
		return "", err
	}
	policy, err := h.eng.Policy(stream, consumer)
	return policy, h.engErr(err)
}
