package kinesis

// Consumers (enhanced fan-out), tags and resource policies.

// RegisterStreamConsumerInput is the request of RegisterStreamConsumer.
type RegisterStreamConsumerInput struct {
	StreamARN    string            `json:"StreamARN"`
	StreamId     string            `json:"StreamId,omitempty"`
	ConsumerName string            `json:"ConsumerName"`
	Tags         map[string]string `json:"Tags,omitempty"`
}

// RegisterStreamConsumerOutput is the response of RegisterStreamConsumer.
type RegisterStreamConsumerOutput struct {
	Consumer Consumer `json:"Consumer"`
}

// ConsumerInput is the request of DescribeStreamConsumer and
// DeregisterStreamConsumer: a consumer named by ConsumerARN, or by StreamARN
// and ConsumerName.
type ConsumerInput struct {
	StreamARN    string `json:"StreamARN,omitempty"`
	StreamId     string `json:"StreamId,omitempty"`
	ConsumerName string `json:"ConsumerName,omitempty"`
	ConsumerARN  string `json:"ConsumerARN,omitempty"`
}

// DescribeStreamConsumerOutput is the response of DescribeStreamConsumer.
type DescribeStreamConsumerOutput struct {
	ConsumerDescription ConsumerDescription `json:"ConsumerDescription"`
}

// ListStreamConsumersInput is the request of ListStreamConsumers.
type ListStreamConsumersInput struct {
	StreamARN               string    `json:"StreamARN"`
	StreamId                string    `json:"StreamId,omitempty"`
	NextToken               string    `json:"NextToken,omitempty"`
	MaxResults              *int32    `json:"MaxResults,omitempty"`
	StreamCreationTimestamp Timestamp `json:"StreamCreationTimestamp,omitzero"`
}

// ListStreamConsumersOutput is the response of ListStreamConsumers.
type ListStreamConsumersOutput struct {
	Consumers []Consumer `json:"Consumers"`
	NextToken string     `json:"NextToken,omitempty"`
}

// AddTagsToStreamInput is the request of AddTagsToStream.
type AddTagsToStreamInput struct {
	StreamName string            `json:"StreamName,omitempty"`
	StreamARN  string            `json:"StreamARN,omitempty"`
	StreamId   string            `json:"StreamId,omitempty"`
	Tags       map[string]string `json:"Tags"`
}

// RemoveTagsFromStreamInput is the request of RemoveTagsFromStream.
type RemoveTagsFromStreamInput struct {
	StreamName string   `json:"StreamName,omitempty"`
	StreamARN  string   `json:"StreamARN,omitempty"`
	StreamId   string   `json:"StreamId,omitempty"`
	TagKeys    []string `json:"TagKeys"`
}

// ListTagsForStreamInput is the request of ListTagsForStream.
type ListTagsForStreamInput struct {
	StreamName           string `json:"StreamName,omitempty"`
	StreamARN            string `json:"StreamARN,omitempty"`
	StreamId             string `json:"StreamId,omitempty"`
	ExclusiveStartTagKey string `json:"ExclusiveStartTagKey,omitempty"`
	Limit                *int32 `json:"Limit,omitempty"`
}

// ListTagsForStreamOutput is the response of ListTagsForStream.
type ListTagsForStreamOutput struct {
	Tags        []Tag `json:"Tags"`
	HasMoreTags bool  `json:"HasMoreTags"`
}

// TagResourceInput is the request of TagResource (a stream or consumer ARN).
type TagResourceInput struct {
	ResourceARN string            `json:"ResourceARN"`
	StreamId    string            `json:"StreamId,omitempty"`
	Tags        map[string]string `json:"Tags"`
}

// UntagResourceInput is the request of UntagResource.
type UntagResourceInput struct {
	ResourceARN string   `json:"ResourceARN"`
	StreamId    string   `json:"StreamId,omitempty"`
	TagKeys     []string `json:"TagKeys"`
}

// ResourceInput is the request of ListTagsForResource, GetResourcePolicy and
// DeleteResourcePolicy: a stream or consumer ARN.
type ResourceInput struct {
	ResourceARN string `json:"ResourceARN"`
	StreamId    string `json:"StreamId,omitempty"`
}

// ListTagsForResourceOutput is the response of ListTagsForResource.
type ListTagsForResourceOutput struct {
	Tags []Tag `json:"Tags"`
}

// PutResourcePolicyInput is the request of PutResourcePolicy.
type PutResourcePolicyInput struct {
	ResourceARN string `json:"ResourceARN"`
	StreamId    string `json:"StreamId,omitempty"`
	Policy      string `json:"Policy"`
}

// GetResourcePolicyOutput is the response of GetResourcePolicy; Policy is
// "{}" when the resource has none.
type GetResourcePolicyOutput struct {
	Policy string `json:"Policy"`
}
