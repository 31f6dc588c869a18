package console

import (
	"net/http"

	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/kms"
)

// The IAM actions the console judges, the same the Kinesis door judges for
// the operations the console performs (kinesis/authorize.go): "kinesis:"
// and the operation's name, on the stream's ARN (the consumer's for
// deregistering one; "*" for listing streams).
const (
	actListStreams        = "kinesis:ListStreams"
	actCreateStream       = "kinesis:CreateStream"
	actDeleteStream       = "kinesis:DeleteStream"
	actDescribeSummary    = "kinesis:DescribeStreamSummary"
	actDescribeStream     = "kinesis:DescribeStream"
	actListShards         = "kinesis:ListShards"
	actListTags           = "kinesis:ListTagsForStream"
	actAddTags            = "kinesis:AddTagsToStream"
	actRemoveTags         = "kinesis:RemoveTagsFromStream"
	actSplitShard         = "kinesis:SplitShard"
	actMergeShards        = "kinesis:MergeShards"
	actUpdateShardCount   = "kinesis:UpdateShardCount"
	actIncreaseRetention  = "kinesis:IncreaseStreamRetentionPeriod"
	actDecreaseRetention  = "kinesis:DecreaseStreamRetentionPeriod"
	actGetShardIterator   = "kinesis:GetShardIterator"
	actGetRecords         = "kinesis:GetRecords"
	actListConsumers      = "kinesis:ListStreamConsumers"
	actRegisterConsumer   = "kinesis:RegisterStreamConsumer"
	actDeregisterConsumer = "kinesis:DeregisterStreamConsumer"
	// actDecrypt is what reading a stream encrypted under a key other than
	// alias/aws/kinesis needs on that key, as at the Kinesis door.
	actDecrypt = "kms:Decrypt"
)

// allowed reports whether the caller may perform action on resource, whose
// resource policy is pol (nil: none). Everything is allowed on a console
// without sign-in.
func (c *Console) allowed(cl *call, action, resource string, pol *auth.Policy) bool {
	if !c.authOn() {
		return true
	}
	if cl == nil || cl.user == nil {
		return false
	}
	return auth.Authorize(cl.user, action, resource, pol) == nil
}

// streamPolicy returns the compiled resource policy of a stream: nil when
// it has none; ok false when the stored one does not compile (then, as at
// the Kinesis door, nothing is allowed on the stream until it is replaced).
func (c *Console) streamPolicy(name string) (pol *auth.Policy, ok bool) {
	doc, err := c.eng.Policy(name, "")
	if err != nil || doc == "" {
		return nil, true
	}
	p, err := auth.ParseResourcePolicy([]byte(doc))
	if err != nil {
		return nil, false
	}
	return p, true
}

// streamAccess is what one caller may do on one stream.
type streamAccess struct {
	c   *Console
	cl  *call
	arn string
	pol *auth.Policy
	bad bool // the stream's resource policy does not compile
}

func (c *Console) access(cl *call, name string) *streamAccess {
	a := &streamAccess{c: c, cl: cl, arn: c.scope.StreamARN(name)}
	if c.authOn() {
		var ok bool
		a.pol, ok = c.streamPolicy(name)
		a.bad = !ok
	}
	return a
}

// can reports whether the caller may perform action on the stream.
func (a *streamAccess) can(action string) bool {
	if a.bad && a.c.authOn() {
		return false
	}
	return a.c.allowed(a.cl, action, a.arn, a.pol)
}

// require answers 403 and audits the refusal unless the caller may perform
// action on the stream.
func (a *streamAccess) require(w http.ResponseWriter, r *http.Request, action string) bool {
	if a.can(action) {
		return true
	}
	a.c.deny(w, r, a.cl, action, a.arn)
	return false
}

// deny answers 403 for action on resource, worded as the Kinesis door words
// it, and records the refusal in the audit log.
func (c *Console) deny(w http.ResponseWriter, r *http.Request, cl *call, action, resource string) {
	c.audit(r, cl, action, resource, auth.OutcomeDenied)
	msg := "not authorized to perform: " + action + " on resource: " + resource
	if cl != nil && cl.user != nil {
		msg = (&auth.DeniedError{User: cl.user.ARN, Action: action, Resource: resource}).Error()
	}
	writeErrorBody(w, http.StatusForbidden, apiError{Error: msg, Code: "AccessDeniedException"})
}

// canDecrypt reports whether the caller may read the records of a stream
// encrypted under its current key: always for a stream in the clear or
// under the default key, else kms:Decrypt on the key.
func (c *Console) canDecrypt(cl *call, name string) (keyARN string, ok bool) {
	if !c.authOn() {
		return "", true
	}
	arn, err := c.eng.StreamKeyARN(name)
	if err != nil || arn == "" {
		return "", true
	}
	if keys := c.eng.Keys(); keys != nil {
		if m, err := keys.DescribeKey(kms.DefaultAlias); err == nil && m.ARN == arn {
			return "", true
		}
	}
	return arn, c.allowed(cl, actDecrypt, arn, nil)
}

// audit records an action taken or refused through the console.
func (c *Console) audit(r *http.Request, cl *call, action, resource, outcome string) {
	if c.opts.Audit == nil {
		return
	}
	id := auth.Anonymous
	if cl != nil && cl.user != nil {
		id = cl.user.ARN
	}
	c.opts.Audit.Log(auth.AuditEvent{Time: c.opts.Now(), Identity: id, Action: action, Resource: resource,
		Door: "console", Outcome: outcome, Remote: clientAddr(r)})
}

// auditResult records an action that was allowed, with its result.
func (c *Console) auditResult(r *http.Request, cl *call, action, resource string, err error) {
	outcome := auth.OutcomeAllowed
	if err != nil {
		outcome = "error:" + errorCode(err)
	}
	c.audit(r, cl, action, resource, outcome)
}
