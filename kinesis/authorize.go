package kinesis

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/kms"
)

// Authorization and audit of the HTTP door.
//
// Every operation is judged as the IAM action "kinesis:" + its name on one
// resource, as on AWS: the stream's ARN for stream operations (CreateStream:
// the ARN of the stream to create; GetRecords: the stream its iterator
// reads), the consumer's ARN for DescribeStreamConsumer,
// DeregisterStreamConsumer and SubscribeToShard, the ResourceARN given to
// the tagging and resource-policy operations, and "*" for ListStreams and
// DescribeLimits. The user's identity policy and the resource's policy (the
// stream's or the consumer's) are judged together by auth.Authorize.
//
// A request is judged once what names its resource has been validated and
// before anything else: before the resource is looked up (so that a user
// who may not act on a stream cannot tell whether it exists) and before any
// effect. PutRecords, PutRecord and GetRecords are judged on their own paths
// (putRecords, getRecords) with what the stream facts cache holds, so that
// an allowed request allocates nothing; every other operation is judged in
// serveOperation from its decoded input (authorizeInput), SubscribeToShard
// in subscribeToShard.

// The key actions an operation on an encrypted stream needs on the stream's
// master key, on top of its own action, as on Kinesis: a producer needs
// kms:GenerateDataKey, a consumer kms:Decrypt, and a stream administrator
// who starts encryption kms:DescribeKey on the key it names. The key
// alias/aws/kinesis names needs none (Kinesis lets every user of a stream
// use its default key).
const (
	actionGenerateDataKey = "kms:GenerateDataKey"
	actionDecrypt         = "kms:Decrypt"
	actionDescribeKey     = "kms:DescribeKey"
)

// opActions are the IAM action names of the operations ("kinesis:PutRecords").
var opActions = func() (a [opCount]string) {
	for op := OpAddTagsToStream; op < opCount; op++ {
		a[op] = "kinesis:" + operations[op].name
	}
	return a
}()

// opAudited reports the operations that change something: all but
// Describe*, List*, Get* and SubscribeToShard. The audit log records each of
// them, and every denied request.
var opAudited = func() (a [opCount]bool) {
	for op := OpAddTagsToStream; op < opCount; op++ {
		name := operations[op].name
		a[op] = !strings.HasPrefix(name, "Describe") && !strings.HasPrefix(name, "List") &&
			!strings.HasPrefix(name, "Get") && op != OpSubscribeToShard
	}
	return a
}()

// policyEntry is a resource policy as stored and as compiled: doc is the
// document the engine holds, policy its compiled form, err why it does not
// compile (a document stored before policies were enforced).
type policyEntry struct {
	doc    string
	policy *auth.Policy
	err    error
}

// compilePolicy compiles a stored resource policy document.
func compilePolicy(doc string) *policyEntry {
	p, err := auth.ParseResourcePolicy([]byte(doc))
	return &policyEntry{doc: doc, policy: p, err: err}
}

// policyCache holds the last compiled policy of one resource. The document
// is read from the engine on every request (a read under the engine's
// read lock, without allocation), so a change made through any door is in
// force at once; it is compiled again only when it changed. Concurrent
// requests that find it changed may both compile it; the last one's stays.
type policyCache struct {
	entry atomic.Pointer[policyEntry]
}

// get returns the compiled form of doc ("" is no policy: nil).
func (c *policyCache) get(doc string) *policyEntry {
	if doc == "" {
		return nil
	}
	if e := c.entry.Load(); e != nil && e.doc == doc {
		return e
	}
	e := compilePolicy(doc)
	c.entry.Store(e)
	return e
}

// authzOn reports whether requests are authorized; guarding, whether they
// are authorized or audited (either needs each request's resource).
func (h *Handler) authzOn() bool  { return h.opts.Auth != nil }
func (h *Handler) guarding() bool { return h.opts.Auth != nil || h.opts.Audit != nil }

// allow judges op on resource for the request's user against the resource's
// policy (nil: none), and notes the resource for the audit log. A denial is
// AccessDeniedException with AWS's wording.
func (h *Handler) allow(st *reqState, op Operation, resource string, pol *policyEntry) error {
	st.resource = resource
	if !h.authzOn() {
		return nil
	}
	if st.user == nil {
		st.denied = true
		return Errorf(CodeMissingAuthenticationToken, "Missing Authentication Token")
	}
	var rp *auth.Policy
	if pol != nil {
		if pol.err != nil && !policyOp(op) {
			// Judging without the policy could grant what it denies: refuse
			// until it is replaced or removed (which the identity policy
			// alone judges).
			st.denied = true
			return Errorf(CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s because the resource policy stored for it is not valid (%v); replace it with PutResourcePolicy or remove it with DeleteResourcePolicy",
				st.user.ARN, opActions[op], resource, pol.err)
		}
		rp = pol.policy
	}
	if err := auth.Authorize(st.user, opActions[op], resource, rp); err != nil {
		st.denied = true
		return &Error{Code: CodeAccessDenied, Message: err.Error(), Status: CodeAccessDenied.Status()}
	}
	return nil
}

// allowKey judges action on the master key of stream name, the one its new
// records are encrypted under, for an operation already allowed on the
// stream. A stream written in the clear, or under the default key, needs
// nothing; a stream or key that is missing is left for the operation to
// report. A refusal is KMSAccessDeniedException, worded as auth words it
// (naming the kms action and the key's ARN). It allocates nothing when it
// allows.
func (h *Handler) allowKey(st *reqState, name, action string) error {
	if !h.authzOn() || st.user == nil {
		return nil
	}
	arn, err := h.eng.StreamKeyARN(name)
	if err != nil || arn == "" {
		return nil
	}
	return h.allowKeyARN(st, action, arn)
}

// allowKeyID judges action on the master key keyID names (a KeyId, key ARN,
// alias or alias ARN): StartStreamEncryption's kms:DescribeKey.
func (h *Handler) allowKeyID(st *reqState, action, keyID string) error {
	if !h.authzOn() || st.user == nil {
		return nil
	}
	keys := h.eng.Keys()
	if keys == nil {
		return nil // the operation refuses: no key service
	}
	m, err := keys.DescribeKey(keyID)
	if err != nil {
		return nil // the operation reports the key missing
	}
	return h.allowKeyARN(st, action, m.ARN)
}

func (h *Handler) allowKeyARN(st *reqState, action, arn string) error {
	if h.isDefaultKey(arn) {
		return nil
	}
	if err := auth.Authorize(st.user, action, arn, nil); err != nil {
		st.denied = true
		return &Error{Code: CodeKMSAccessDenied, Message: err.Error(), Status: CodeKMSAccessDenied.Status()}
	}
	return nil
}

// isDefaultKey reports whether arn is the key alias/aws/kinesis names
// (created, as on Kinesis, on first use).
func (h *Handler) isDefaultKey(arn string) bool {
	if p := h.defaultKey.Load(); p != nil {
		return *p == arn
	}
	keys := h.eng.Keys()
	if keys == nil {
		return false
	}
	m, err := keys.DescribeKey(kms.DefaultAlias)
	if err != nil {
		return false
	}
	h.defaultKey.Store(&m.ARN)
	return m.ARN == arn
}

// policyOp reports the operations on a resource's policy itself.
func policyOp(op Operation) bool {
	return op == OpPutResourcePolicy || op == OpGetResourcePolicy || op == OpDeleteResourcePolicy
}

// streamARNOf returns the ARN of stream name: the cached string when the
// stream's facts are cached (no allocation), else a new one.
func (h *Handler) streamARNOf(f *streamFacts, name string) string {
	if f != nil {
		return f.arn
	}
	return h.scope.StreamARN(name)
}

// streamPolicy returns the compiled resource policy of stream name (nil when
// it has none or does not exist).
func (h *Handler) streamPolicy(f *streamFacts, name string) *policyEntry {
	doc, err := h.eng.Policy(name, "")
	if err != nil || doc == "" {
		return nil
	}
	if f == nil {
		return compilePolicy(doc)
	}
	return f.policy.get(doc)
}

// allowStream judges op on stream name. It does not allocate when the
// stream's facts are cached and the request is allowed.
func (h *Handler) allowStream(st *reqState, op Operation, name string) error {
	if !h.guarding() {
		return nil
	}
	f := h.factsOf(name)
	arn := h.streamARNOf(f, name)
	if !h.authzOn() {
		st.resource = arn
		return nil
	}
	return h.allow(st, op, arn, h.streamPolicy(f, name))
}

// consumerPolicy returns the compiled resource policy of the consumer a
// names (nil when it has none or is not registered under that ARN).
func (h *Handler) consumerPolicy(a ARN, arn string) *policyEntry {
	info, err := h.eng.Consumer(a.Stream, a.Consumer)
	if err != nil || info.Created.Unix() != a.ConsumerCreated {
		return nil
	}
	doc, err := h.eng.Policy(a.Stream, a.Consumer)
	if err != nil || doc == "" {
		return nil
	}
	v, _ := h.consumerPolicies.LoadOrStore(arn, new(policyCache))
	return v.(*policyCache).get(doc)
}

// allowARN judges op on the stream or consumer arn names.
func (h *Handler) allowARN(st *reqState, op Operation, a ARN) error {
	if !a.IsConsumer() {
		return h.allowStream(st, op, a.Stream)
	}
	arn := a.String()
	if !h.authzOn() {
		st.resource = arn
		return nil
	}
	var pol *policyEntry
	if h.scope.Owns(a) {
		pol = h.consumerPolicy(a, arn)
	}
	return h.allow(st, op, arn, pol)
}

// allowConsumerARN judges op on the consumer a ConsumerARN member names.
func (h *Handler) allowConsumerARN(st *reqState, op Operation, arn string) error {
	if !h.guarding() {
		return nil
	}
	a, err := ParseARN(arn)
	if err != nil || !a.IsConsumer() {
		if !h.authzOn() {
			return nil // the operation refuses it
		}
		return Errorf(CodeInvalidArgument, "ConsumerARN %s is not a valid consumer ARN", arn)
	}
	return h.allowARN(st, op, a)
}

// forgetConsumer drops the cached policy of a consumer.
func (h *Handler) forgetConsumer(arn string) { h.consumerPolicies.Delete(arn) }

// forgetConsumersOf drops the cached policies of a stream's consumers.
func (h *Handler) forgetConsumersOf(stream string) {
	prefix := h.scope.StreamARN(stream) + "/consumer/"
	h.consumerPolicies.Range(func(k, _ any) bool {
		if s, _ := k.(string); strings.HasPrefix(s, prefix) {
			h.consumerPolicies.Delete(k)
		}
		return true
	})
}

// authorizeInput judges an operation served by serveOperation from its
// decoded input. A resource that cannot be told from the input (a missing
// or malformed name or ARN) is refused with the operation's own error, so
// that nothing runs unjudged.
func (h *Handler) authorizeInput(st *reqState, op Operation, in any) error {
	if !h.guarding() {
		return nil
	}
	err := h.judgeInput(st, op, in)
	if err != nil && !h.authzOn() {
		// Auditing only: the operation reports its own errors.
		return nil
	}
	return err
}

func (h *Handler) judgeInput(st *reqState, op Operation, in any) error {
	switch in := in.(type) {
	case *DescribeLimitsInput, *ListStreamsInput:
		return h.allow(st, op, auth.AllResources, nil)
	case *CreateStreamInput:
		if err := h.allowStream(st, op, in.StreamName); err != nil {
			return err
		}
		if len(in.Tags) > 0 {
			// As on AWS, tags given at creation need the tagging action too.
			return h.allowStream(st, OpAddTagsToStream, in.StreamName)
		}
		return nil
	case *ListShardsInput:
		if in.NextToken != "" && in.StreamName == "" && in.StreamARN == "" {
			return h.allowPaged(st, op, in.NextToken, pageListShards)
		}
		return h.allowNamed(st, op, in.StreamName, in.StreamARN)
	case *ListStreamConsumersInput:
		if in.NextToken != "" && in.StreamARN == "" {
			return h.allowPaged(st, op, in.NextToken, pageListConsumers)
		}
		return h.allowStreamARN(st, op, in.StreamARN)
	case *RegisterStreamConsumerInput:
		return h.allowStreamARN(st, op, in.StreamARN)
	case *UpdateStreamModeInput:
		return h.allowStreamARN(st, op, in.StreamARN)
	case *UpdateMaxRecordSizeInput:
		return h.allowStreamARN(st, op, in.StreamARN)
	case *ConsumerInput:
		return h.allowConsumerInput(st, op, in)
	case *ResourceInput:
		return h.allowResource(st, op, in.ResourceARN)
	case *TagResourceInput:
		return h.allowResource(st, op, in.ResourceARN)
	case *UntagResourceInput:
		return h.allowResource(st, op, in.ResourceARN)
	case *PutResourcePolicyInput:
		return h.allowResource(st, op, in.ResourceARN)
	case *PutRecordInput:
		if err := h.allowNamed(st, op, in.StreamName, in.StreamARN); err != nil {
			return err
		}
		name, _ := h.streamOf(in.StreamName, in.StreamARN)
		return h.allowKey(st, name, actionGenerateDataKey)
	case *StreamEncryptionInput:
		if err := h.allowNamed(st, op, in.StreamName, in.StreamARN); err != nil {
			return err
		}
		if op == OpStartStreamEncryption && in.KeyId != "" {
			return h.allowKeyID(st, actionDescribeKey, in.KeyId)
		}
		return nil
	case streamNamed:
		name, arn := in.streamRef()
		return h.allowNamed(st, op, name, arn)
	}
	return Errorf(CodeInternalFailure, "operation %s has no authorization rule", op)
}

// streamNamed is an input naming its stream by StreamName or StreamARN.
type streamNamed interface{ streamRef() (name, arn string) }

func (in *AddTagsToStreamInput) streamRef() (string, string)      { return in.StreamName, in.StreamARN }
func (in *RemoveTagsFromStreamInput) streamRef() (string, string) { return in.StreamName, in.StreamARN }
func (in *ListTagsForStreamInput) streamRef() (string, string)    { return in.StreamName, in.StreamARN }
func (in *RetentionPeriodInput) streamRef() (string, string)      { return in.StreamName, in.StreamARN }
func (in *DeleteStreamInput) streamRef() (string, string)         { return in.StreamName, in.StreamARN }
func (in *DescribeStreamInput) streamRef() (string, string)       { return in.StreamName, in.StreamARN }
func (in *DescribeStreamSummaryInput) streamRef() (string, string) {
	return in.StreamName, in.StreamARN
}
func (in *EnhancedMonitoringInput) streamRef() (string, string) { return in.StreamName, in.StreamARN }
func (in *GetShardIteratorInput) streamRef() (string, string)   { return in.StreamName, in.StreamARN }
func (in *MergeShardsInput) streamRef() (string, string)        { return in.StreamName, in.StreamARN }
func (in *SplitShardInput) streamRef() (string, string)         { return in.StreamName, in.StreamARN }
func (in *UpdateShardCountInput) streamRef() (string, string)   { return in.StreamName, in.StreamARN }
func (in *StreamEncryptionInput) streamRef() (string, string)   { return in.StreamName, in.StreamARN }
func (in *PutRecordInput) streamRef() (string, string)          { return in.StreamName, in.StreamARN }

// allowNamed judges op on the stream StreamName or StreamARN names.
func (h *Handler) allowNamed(st *reqState, op Operation, name, arn string) error {
	if name == "" && arn == "" {
		// A request that names no stream acts on none: the operation
		// refuses it with its own message before it looks anything up.
		return nil
	}
	stream, err := h.streamOf(name, arn)
	if err != nil {
		return err
	}
	return h.allowStream(st, op, stream)
}

// allowStreamARN judges op on the stream of a required StreamARN member.
func (h *Handler) allowStreamARN(st *reqState, op Operation, arn string) error {
	stream, err := h.streamOf("", arn)
	if err != nil {
		return err
	}
	return h.allowStream(st, op, stream)
}

// allowPaged judges op on the stream a NextToken pages.
func (h *Handler) allowPaged(st *reqState, op Operation, token string, kind pageKind) error {
	t, err := h.tokens.decode(token, kind)
	if err != nil {
		return err
	}
	return h.allowStream(st, op, t.stream)
}

// allowConsumerInput judges op on the consumer a ConsumerARN, or a
// StreamARN and a ConsumerName, name. A consumer named by name is looked
// up for its ARN (which carries its registration time); one that is not
// registered is judged as the ARN without that time, so that only a user
// who may act on it learns that it does not exist.
func (h *Handler) allowConsumerInput(st *reqState, op Operation, in *ConsumerInput) error {
	if in.ConsumerARN != "" {
		return h.allowConsumerARN(st, op, in.ConsumerARN)
	}
	if in.StreamARN == "" || in.ConsumerName == "" {
		return Errorf(CodeInvalidArgument, "Name the consumer by ConsumerARN, or by StreamARN and ConsumerName.")
	}
	stream, err := h.streamOf("", in.StreamARN)
	if err != nil {
		return err
	}
	info, err := h.eng.Consumer(stream, in.ConsumerName)
	if err != nil {
		return h.allow(st, op, h.scope.StreamARN(stream)+"/consumer/"+in.ConsumerName, nil)
	}
	a, _ := ParseARN(h.scope.ConsumerARN(stream, in.ConsumerName, info.Created))
	return h.allowARN(st, op, a)
}

// allowResource judges op on the stream or consumer a ResourceARN names.
func (h *Handler) allowResource(st *reqState, op Operation, arn string) error {
	a, err := ParseARN(arn)
	if err != nil {
		return Errorf(CodeInvalidArgument, "ResourceARN %s is not a valid stream or consumer ARN: %s", arn, strings.TrimPrefix(err.Error(), "kinesis: "))
	}
	if !a.IsConsumer() && !h.scope.Owns(a) {
		return h.allow(st, op, a.String(), nil)
	}
	return h.allowARN(st, op, a)
}

// audit records a request in the audit log: every mutating request, and
// every denied one. err is the request's result.
func (h *Handler) audit(r *http.Request, op Operation, st *reqState, err error) {
	a := h.opts.Audit
	if a == nil || !(opAudited[op] || st.denied || st.unauthenticated) {
		return
	}
	identity := auth.Anonymous
	if st.user != nil {
		identity = st.user.ARN
	}
	outcome := auth.OutcomeAllowed
	switch {
	case st.denied:
		outcome = auth.OutcomeDenied
	case err != nil:
		outcome = "error:" + errorName(h.apiError(err))
	}
	a.Log(auth.AuditEvent{
		Time: h.now(), Identity: identity, Action: opActions[op], Resource: st.resource,
		Door: "http", Outcome: outcome, Remote: r.RemoteAddr,
	})
}

// errorName is the name of an error in the audit log: its code, or for a
// bare HTTP status (413) "HTTP" and the status.
func errorName(e *Error) string {
	if e.Code != codeNone {
		return string(e.Code)
	}
	return "HTTP" + strconv.Itoa(e.Status)
}

// forgetPolicy drops the cached policy of a stream (consumer empty) or of the
// consumer arn names, after PutResourcePolicy or DeleteResourcePolicy.
func (h *Handler) forgetPolicy(stream, consumer, arn string) {
	if consumer == "" {
		h.forget(stream)
		return
	}
	if a, err := ParseARN(arn); err == nil {
		h.forgetConsumer(a.String())
	}
}
