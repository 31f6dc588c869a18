package kinesis

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/sluicedb/sluice/api"
)

// The constraint table: one list of members per operation, with the type and
// the constraints the service model gives each (aws-sdk-go-v2
// service/kinesis, shared/KINESIS.md §1.2). Everything the API checks before
// an operation runs is generated from it: the wire types of a body's members
// (SerializationException, see typecheck.go) and their constraints
// (ValidationException, see validate.go). An operation's own checks, which
// depend on state, stay with the operation.

// memberType is the type of a member in the service model.
type memberType uint8

const (
	typeString memberType = iota + 1
	typeInteger
	typeBoolean
	typeBlob
	typeTimestamp
	typeList
	typeMap
	typeStructure
)

// javaName is the type's name in AWS's serialization messages.
func (t memberType) javaName() string {
	switch t {
	case typeString:
		return "an String"
	case typeInteger:
		return "an Integer"
	case typeBoolean:
		return "an Boolean"
	case typeBlob:
		return "a Blob"
	case typeTimestamp:
		return "milliseconds since epoch"
	}
	return ""
}

// pattern is a regular expression of the model, as messages quote it, with
// a hand-written matcher (the patterns are simple; no regexp runs per
// request).
type pattern struct {
	text  string
	match func(string) bool
	// maxChars bounds the strings the pattern admits (0: no bound); the
	// body check refuses longer ones before decoding them.
	maxChars int
}

// Patterns of the model.
var (
	patName        = &pattern{text: patternName, match: matchNamePattern}
	patHashKey     = &pattern{text: patternHashKey, match: func(s string) bool { return matchDecimal(s, hashKeyDigits) }, maxChars: hashKeyDigits}
	patSeqNum      = &pattern{text: patternSeqNum, match: func(s string) bool { return matchDecimal(s, seqNumDigits) }, maxChars: seqNumDigits}
	patStreamARN   = &pattern{text: patternStreamARN, match: matchStreamARN}
	patConsumerARN = &pattern{text: patternConsumer, match: matchConsumerARN}
	patAnyARN      = &pattern{text: patternAnyARN, match: matchAnyARN}
)

// matchNamePattern reports whether s matches [a-zA-Z0-9_.-]+ (its length
// is a constraint of its own).
func matchNamePattern(s string) bool {
	for len(s) > maxNameLen {
		if !validName(s[:maxNameLen]) {
			return false
		}
		s = s[maxNameLen:]
	}
	return validName(s)
}

// member is one member of a request shape and its constraints.
type member struct {
	// name is the member's path element in messages, lower camel case
	// ("streamName"); wire is its name on the wire ("StreamName").
	name, wire string
	typ        memberType
	required   bool
	// hasLen: the length of a string (characters), blob (bytes), list or
	// map (entries) is within [minLen, maxLen].
	hasLen         bool
	minLen, maxLen int
	// hasRange: an integer is within [minVal, maxVal].
	hasRange       bool
	minVal, maxVal int64
	pattern        *pattern
	enum           []string
	// elem is the member of a list's elements or a map's values, key the
	// member of a map's keys.
	elem, key *member
	// fields are a structure's members, in the order AWS reports them
	// (alphabetical, case-insensitively).
	fields []member

	// Resolved by init against the Go shape.
	layout fieldLayout // where the member's field is (fields.go)
	bit    uint        // the member's bit in a presence set of its structure
}

// opt sets a constraint of a member.
type opt func(*member)

func m(name string, t memberType, opts ...opt) member {
	mb := member{name: name, wire: strings.ToUpper(name[:1]) + name[1:], typ: t}
	for _, o := range opts {
		o(&mb)
	}
	return mb
}

func required(mb *member) { mb.required = true }
func length(min, max int) opt {
	return func(mb *member) { mb.hasLen, mb.minLen, mb.maxLen = true, min, max }
}
func valueRange(min, max int64) opt {
	return func(mb *member) { mb.hasRange, mb.minVal, mb.maxVal = true, min, max }
}
func pat(p *pattern) opt          { return func(mb *member) { mb.pattern = p } }
func enum(values []string) opt    { return func(mb *member) { mb.enum = values } }
func elem(e member) opt           { return func(mb *member) { mb.elem = &e } }
func mapOf(key, value member) opt { return func(mb *member) { mb.key, mb.elem = &key, &value } }
func fields(fs ...member) opt     { return func(mb *member) { mb.fields = fs } }
func withOpts(mb member, opts ...opt) member { // a shared member with more constraints
	for _, o := range opts {
		o(&mb)
	}
	return mb
}

// Members several operations share.
var (
	mStreamName   = m("streamName", typeString, length(1, maxNameLen), pat(patName))
	mStreamARN    = m("streamARN", typeString, length(1, maxARNLen), pat(patStreamARN))
	mStreamID     = m("streamId", typeString)
	mConsumerName = m("consumerName", typeString, length(1, maxNameLen), pat(patName))
	mConsumerARN  = m("consumerARN", typeString, length(1, maxARNLen), pat(patConsumerARN))
	mResourceARN  = m("resourceARN", typeString, required, length(1, maxARNLen), pat(patAnyARN))
	mNextToken    = m("nextToken", typeString, length(1, maxNextTokenLen))
	mDryRun       = m("dryRun", typeBoolean)
	mTimestamp    = m("streamCreationTimestamp", typeTimestamp)
	mMaxResults   = m("maxResults", typeInteger, valueRange(1, 10000))
	mTags         = m("tags", typeMap, length(1, maxTagsPerCall),
		mapOf(m("key", typeString, length(1, maxTagKeyLen)), m("value", typeString, length(0, maxTagValueLen))))
	mTagKeys = m("tagKeys", typeList, required, length(1, maxTagKeysPerCall),
		elem(m("member", typeString, length(1, maxTagKeyLen))))
	mModeDetails = m("streamModeDetails", typeStructure,
		fields(m("streamMode", typeString, required, enum(streamModes))))
	mWarmThroughput = m("warmThroughputMiBps", typeInteger, valueRange(0, 10240))
	mMaxRecordSize  = m("maxRecordSizeInKiB", typeInteger, valueRange(api.DefaultMaxRecord>>10, api.MaxMaxRecord>>10))
	mShardName      = m("shardId", typeString, length(1, maxNameLen), pat(patName))
	mPartitionKey   = m("partitionKey", typeString, required, length(1, maxPartitionKey))
	mExplicitHash   = m("explicitHashKey", typeString, pat(patHashKey))
	mData           = m("data", typeBlob, required, length(0, maxDataLen))
)

// streamMembers are the members that name the stream of most operations.
func streamMembers(more ...member) []member {
	return append([]member{mStreamName, mStreamARN, mStreamID}, more...)
}

// Tables shared by operations that share an input shape.
var (
	modelRetention   = streamMembers(m("retentionPeriodHours", typeInteger, required, valueRange(1, 1<<31-1)))
	modelResource    = []member{mResourceARN, mStreamID}
	modelConsumer    = []member{mStreamARN, mStreamID, mConsumerName, mConsumerARN}
	modelMonitoring  = streamMembers(m("shardLevelMetrics", typeList, required, length(1, maxShardLevelMetrics), elem(m("member", typeString, enum(shardLevelMetrics)))))
	modelEncryption  = streamMembers(m("encryptionType", typeString, required, enum([]string{string(EncryptionTypeNone), string(EncryptionTypeKMS)})), m("keyId", typeString, required, length(1, maxKeyIDLen)))
	startingPosition = []member{
		m("type", typeString, required, enum(iteratorTypes)),
		m("sequenceNumber", typeString, pat(patSeqNum)),
		m("timestamp", typeTimestamp),
	}
)

// opModels is the constraint table: the members of each operation's input.
var opModels = [opCount][]member{
	OpAddTagsToStream: streamMembers(withOpts(mTags, required)),
	OpCreateStream: {
		withOpts(mStreamName, required),
		m("shardCount", typeInteger, valueRange(1, maxShardCountModel)),
		mModeDetails, mTags, mMaxRecordSize, mWarmThroughput,
		m("recordDistributionStrategy", typeString, enum([]string{string(RecordDistributionStrategyAuto), string(RecordDistributionStrategyUserPartitionKey)})),
	},
	OpDecreaseStreamRetentionPeriod: modelRetention,
	OpDeleteResourcePolicy:          modelResource,
	OpDeleteStream:                  streamMembers(m("enforceConsumerDeletion", typeBoolean)),
	OpDeregisterStreamConsumer:      modelConsumer,
	OpDescribeLimits:                {},
	OpDescribeStream: streamMembers(
		m("limit", typeInteger, valueRange(1, 10000)),
		m("exclusiveStartShardId", typeString, length(1, maxNameLen), pat(patName))),
	OpDescribeStreamConsumer:    modelConsumer,
	OpDescribeStreamSummary:     streamMembers(),
	OpDisableEnhancedMonitoring: modelMonitoring,
	OpEnableEnhancedMonitoring:  modelMonitoring,
	OpGetRecords: {
		m("shardIterator", typeString, required, length(1, maxIteratorLen)),
		m("limit", typeInteger, valueRange(1, api.MaxReadRecords)),
		mStreamARN, mStreamID, mDryRun,
	},
	OpGetResourcePolicy: modelResource,
	OpGetShardIterator: streamMembers(
		withOpts(mShardName, required),
		m("shardIteratorType", typeString, required, enum(iteratorTypes)),
		m("startingSequenceNumber", typeString, pat(patSeqNum)),
		m("timestamp", typeTimestamp), mDryRun),
	OpIncreaseStreamRetentionPeriod: modelRetention,
	OpListShards: streamMembers(
		mNextToken,
		m("exclusiveStartShardId", typeString, length(1, maxNameLen), pat(patName)),
		mMaxResults, mTimestamp,
		m("shardFilter", typeStructure, fields(
			m("type", typeString, required, enum(shardFilterTypes)),
			mShardName,
			m("timestamp", typeTimestamp)))),
	OpListStreamConsumers: {withOpts(mStreamARN, required), mStreamID, mNextToken, mMaxResults, mTimestamp},
	OpListStreams: {
		m("limit", typeInteger, valueRange(1, 10000)),
		m("exclusiveStartStreamName", typeString, length(1, maxNameLen), pat(patName)),
		mNextToken,
	},
	OpListTagsForResource: modelResource,
	OpListTagsForStream: streamMembers(
		m("exclusiveStartTagKey", typeString, length(1, maxTagKeyLen)),
		m("limit", typeInteger, valueRange(1, 50))),
	OpMergeShards: streamMembers(
		m("shardToMerge", typeString, required, length(1, maxNameLen), pat(patName)),
		m("adjacentShardToMerge", typeString, required, length(1, maxNameLen), pat(patName))),
	OpPutRecord: streamMembers(mData, mPartitionKey, mExplicitHash,
		m("sequenceNumberForOrdering", typeString, pat(patSeqNum)), mDryRun),
	OpPutRecords: streamMembers(
		m("records", typeList, required, length(1, api.MaxPutRecords),
			elem(m("member", typeStructure, fields(mData, mPartitionKey, mExplicitHash)))),
		mDryRun),
	OpPutResourcePolicy: {mResourceARN, mStreamID, m("policy", typeString, required, length(1, maxPolicyLen))},
	OpRegisterStreamConsumer: {
		withOpts(mStreamARN, required), mStreamID, withOpts(mConsumerName, required), mTags,
	},
	OpRemoveTagsFromStream: streamMembers(mTagKeys),
	OpSplitShard: streamMembers(
		m("shardToSplit", typeString, required, length(1, maxNameLen), pat(patName)),
		m("newStartingHashKey", typeString, required, pat(patHashKey))),
	OpStartStreamEncryption: modelEncryption,
	OpStopStreamEncryption:  modelEncryption,
	OpSubscribeToShard: {
		withOpts(mConsumerARN, required), mStreamID, withOpts(mShardName, required),
		m("startingPosition", typeStructure, required, fields(startingPosition...)),
		mDryRun,
	},
	OpTagResource:   {mResourceARN, mStreamID, withOpts(mTags, required)},
	OpUntagResource: {mResourceARN, mStreamID, mTagKeys},
	OpUpdateMaxRecordSize: {
		withOpts(mStreamARN, required), mStreamID, withOpts(mMaxRecordSize, required),
	},
	OpUpdateShardCount: streamMembers(
		m("targetShardCount", typeInteger, required, valueRange(1, maxShardCountModel)),
		m("scalingType", typeString, required, enum([]string{string(ScalingTypeUniformScaling)}))),
	OpUpdateStreamMode: {
		withOpts(mStreamARN, required), mStreamID, withOpts(mModeDetails, required), mWarmThroughput,
	},
}

// shapeOf is the Go shape of each operation's input, against which
// validateInput checks what it is given.
var shapeOf [opCount]reflect.Type

// modelByShape is the table by input shape, for the body check, which is
// given the shape (operations that share a shape share their table).
var modelByShape = map[reflect.Type][]member{}

func init() {
	for op := OpAddTagsToStream; op < opCount; op++ {
		shape := reflect.TypeOf(op.NewInput()).Elem()
		ms := resolveMembers(op.String(), opModels[op], shape)
		opModels[op] = ms
		shapeOf[op] = shape
		if prev, ok := modelByShape[shape]; ok && !sameModel(prev, ms) {
			panic(fmt.Sprintf("kinesis: operations sharing the shape %s have different tables", shape))
		}
		modelByShape[shape] = ms
	}
	bindPutRecords()
}

// resolveMembers returns a copy of ms, sorted as AWS reports them, each
// bound to its field of shape (panicking, at start-up, on a member the shape
// lacks: the table and the shapes must agree).
func resolveMembers(where string, ms []member, shape reflect.Type) []member {
	out := make([]member, len(ms))
	copy(out, ms)
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].name) < strings.ToLower(out[j].name) })
	if len(out) > nestedShift {
		panic("kinesis: a shape of more members than its presence set holds")
	}
	for i := range out {
		mb := &out[i]
		f, ok := fieldByWire(shape, mb.wire)
		if !ok {
			panic(fmt.Sprintf("kinesis: %s: the shape %s has no member %s", where, shape, mb.wire))
		}
		mb.bit = uint(i)
		mb.bindLayout(where, f)
		mb.resolveNested(where, f.Type)
	}
	return out
}

// resolveNested binds the members of a structure, or of a list's structure
// elements, to the Go type t of the member.
func (mb *member) resolveNested(where string, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch mb.typ {
	case typeStructure:
		mb.fields = resolveMembers(where+"."+mb.wire, mb.fields, t)
	case typeList:
		if mb.elem != nil && mb.elem.typ == typeStructure {
			e := *mb.elem
			e.resolveNested(where+"."+mb.wire, t.Elem())
			mb.elem = &e
		}
	}
}

// fieldByWire finds the field of a struct whose JSON name is wire.
func fieldByWire(t reflect.Type, wire string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == wire {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func sameModel(a, b []member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || a[i].typ != b[i].typ || a[i].required != b[i].required {
			return false
		}
	}
	return true
}

// memberOfModel returns the member wire of ms.
func memberOfModel(ms []member, wire string) *member {
	for i := range ms {
		if ms[i].wire == wire {
			return &ms[i]
		}
	}
	panic("kinesis: no member " + wire + " in the table")
}
