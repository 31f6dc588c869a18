package wireserver

import (
	"fmt"
	"time"

	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/wire"
)

// actionAuthenticate names a refused authentication in the audit log.
const actionAuthenticate = "sluice:Authenticate"

// opActions is the IAM action each operation is authorized as; "" for the
// frames that need no authorization (Ping, Credit and Cancel, which act on
// a subscription already authorized) and for opcodes that are no
// operation (answered as such by dispatch).
var opActions = [256]string{
	wire.OpCreateStream:      "kinesis:CreateStream",
	wire.OpDeleteStream:      "kinesis:DeleteStream",
	wire.OpDescribeStream:    "kinesis:DescribeStream",
	wire.OpHotKeys:           "kinesis:DescribeStream",
	wire.OpListStreams:       "kinesis:ListStreams",
	wire.OpListShards:        "kinesis:ListShards",
	wire.OpPutRecord:         "kinesis:PutRecord",
	wire.OpPutRecords:        "kinesis:PutRecords",
	wire.OpPutShard:          "kinesis:PutRecords",
	wire.OpShardMap:          "kinesis:ListShards",
	wire.OpGetIterator:       "kinesis:GetShardIterator",
	wire.OpRead:              "kinesis:GetRecords",
	wire.OpSplitShard:        "kinesis:SplitShard",
	wire.OpMergeShards:       "kinesis:MergeShards",
	wire.OpUpdateShardCount:  "kinesis:UpdateShardCount",
	wire.OpIncreaseRetention: "kinesis:IncreaseStreamRetentionPeriod",
	wire.OpDecreaseRetention: "kinesis:DecreaseStreamRetentionPeriod",
	wire.OpAddTags:           "kinesis:AddTagsToStream",
	wire.OpRemoveTags:        "kinesis:RemoveTagsFromStream",
	wire.OpListTags:          "kinesis:ListTagsForStream",
	wire.OpSetQuotas:         auth.ActionSetQuotas,
	wire.OpSetDurability:     auth.ActionSetDurability,
	wire.OpSetMaxRecordSize:  "kinesis:UpdateMaxRecordSize",
	wire.OpSetStreamMode:     "kinesis:UpdateStreamMode",
	wire.OpSubscribe:         "kinesis:SubscribeToShard",

	wire.OpStartStreamEncryption: "kinesis:StartStreamEncryption",
	wire.OpStopStreamEncryption:  "kinesis:StopStreamEncryption",
	wire.OpCreateKey:             "kms:CreateKey",
	wire.OpListKeys:              "kms:ListKeys",
	wire.OpDescribeKey:           "kms:DescribeKey",
	wire.OpCreateAlias:           "kms:CreateAlias",
	wire.OpListAliases:           "kms:ListAliases",
	wire.OpRotateKey:             actionRotateKey,
	wire.OpDisableKey:            "kms:DisableKey",
	wire.OpEnableKey:             "kms:EnableKey",
	wire.OpRewrap:                actionRewrap,

	wire.OpJoinGroup:       auth.ActionJoinGroup,
	wire.OpGroupHeartbeat:  auth.ActionJoinGroup,
	wire.OpLeaveGroup:      auth.ActionJoinGroup,
	wire.OpCheckpointGroup: auth.ActionCheckpointGroup,
	wire.OpListGroups:      auth.ActionListGroups,
	wire.OpDescribeGroup:   auth.ActionDescribeGroup,
	wire.OpResetGroup:      auth.ActionResetGroup,
	wire.OpDeleteGroup:     auth.ActionDeleteGroup,
}

// opMutates marks the operations that change something: the audit log
// records each one's outcome.
var opMutates = [256]bool{
	wire.OpCreateStream: true, wire.OpDeleteStream: true, wire.OpPutRecord: true, wire.OpPutRecords: true, wire.OpPutShard: true,
	wire.OpSplitShard: true, wire.OpMergeShards: true, wire.OpUpdateShardCount: true,
	wire.OpIncreaseRetention: true, wire.OpDecreaseRetention: true, wire.OpAddTags: true, wire.OpRemoveTags: true,
	wire.OpSetQuotas: true, wire.OpSetDurability: true, wire.OpSetMaxRecordSize: true, wire.OpSetStreamMode: true,
	wire.OpStartStreamEncryption: true, wire.OpStopStreamEncryption: true, wire.OpCreateKey: true,
	wire.OpCreateAlias: true, wire.OpRotateKey: true, wire.OpDisableKey: true, wire.OpEnableKey: true,
	wire.OpRewrap: true, wire.OpJoinGroup: true, wire.OpLeaveGroup: true, wire.OpCheckpointGroup: true,
	wire.OpResetGroup: true, wire.OpDeleteGroup: true,
}

// streamAuthz is what a connection knows about one stream for
// authorization: its ARN, made once, and its resource policy, compiled
// once per document.
type streamAuthz struct {
	name string
	arn  string
	// doc is the resource policy document policy and bad were made from;
	// a different document in the engine is compiled again.
	doc    string
	policy *auth.Policy // nil: no resource policy
	bad    error        // the stored document does not parse: requests on the stream are refused
}

// authzCache holds a connection's streamAuthz by stream name. The reader
// goroutine alone uses it, so it takes no lock.
type authzCache struct {
	last   *streamAuthz
	byName map[string]*streamAuthz
}

// maxCachedStreams bounds a connection's authzCache; beyond it the cache
// starts over (a client cycling through names costs a new ARN per name).
const maxCachedStreams = 1024

// stream returns the entry of the stream named name (bytes of a request
// body). Requests for the stream of the previous one find it without a
// lookup; no path allocates once the stream has been seen.
func (c *conn) stream(name []byte) *streamAuthz {
	a := &c.authz
	if e := a.last; e != nil && e.name == string(name) {
		return e
	}
	if e := a.byName[string(name)]; e != nil {
		a.last = e
		return e
	}
	if a.byName == nil || len(a.byName) >= maxCachedStreams {
		a.byName = make(map[string]*streamAuthz)
	}
	n := string(name)
	o := &c.srv.opts
	e := &streamAuthz{name: n, arn: "arn:aws:kinesis:" + o.Region + ":" + o.Account + ":stream/" + n}
	a.byName[n] = e
	a.last = e
	return e
}

// resourcePolicy returns the stream's resource policy in force. A stream
// that does not exist has none (the operation then reports it missing, if
// the identity's policy lets it get that far).
func (c *conn) resourcePolicy(e *streamAuthz) (*auth.Policy, error) {
	doc, err := c.srv.eng.Policy(e.name, "")
	if err != nil {
		doc = ""
	}
	if doc != e.doc {
		e.doc, e.policy, e.bad = doc, nil, nil
		if doc != "" {
			p, err := auth.ParseResourcePolicy([]byte(doc))
			if err != nil {
				c.log.Warn("a stream's stored resource policy is not valid; requests on the stream are refused", "stream", e.name, "err", err)
				e.bad = err
			}
			e.policy = p
		}
	}
	return e.policy, e.bad
}

// admit authorizes the request h whose body is body, on the reader
// goroutine, before anything else looks at it. It returns the resource the
// request acts on (for the audit log) and true to go on, or answers the
// request (denied, or malformed where the stream name should be) and
// returns false; the caller still owns body's buffer.
func (c *conn) admit(h wire.Header, body []byte) (string, bool) {
	action := opActions[h.Op]
	if action == "" || c.user == nil && c.srv.opts.Audit == nil {
		return "", true
	}
	if keyOp(h.Op) {
		return c.admitKeyOp(h, action, body)
	}
	var name []byte
	if h.Op != wire.OpListStreams {
		// Every operation's body but ListStreams' opens with the stream
		// name (a position opens with it too).
		d := wire.NewDecoder(body)
		name = d.StrBytes("stream name")
		if err := d.Err(); err != nil {
			c.malformed(h, err)
			return "", false
		}
	}
	resource, e := c.authorize(action, name)
	if e == nil && c.user != nil {
		e = c.authorizeStreamKey(h.Op, body)
	}
	if e != nil {
		c.audit(action, resource, auth.OutcomeDenied)
		c.respondError(h.Op, h.ID, e, h.Size, 1)
		return resource, false
	}
	return resource, true
}

// authorize judges action on the stream named name (nil: on no particular
// resource) for the connection's user. It returns the resource, and the
// error to answer if the request is refused. It allocates nothing when it
// allows a stream it has seen.
func (c *conn) authorize(action string, name []byte) (string, *wire.Error) {
	resource := auth.AllResources
	var e *streamAuthz
	if name != nil {
		e = c.stream(name)
		resource = e.arn
	}
	if c.user == nil {
		return resource, nil
	}
	u := c.currentUser()
	if u == nil {
		return resource, wire.NewError(wire.NameUnrecognizedClient, fmt.Sprintf(
			"access key %s was removed from the server's users (or given another secret) after this connection authenticated; the connection closes", c.user.AccessKeyID))
	}
	var policy *auth.Policy
	if e != nil {
		var bad error
		if policy, bad = c.resourcePolicy(e); bad != nil {
			return resource, wire.NewError(wire.NameAccessDenied, fmt.Sprintf(
				"User: %s is not authorized to perform: %s on resource: %s because the stream's resource policy is not valid (%v); replace it with PutResourcePolicy or remove it with DeleteResourcePolicy",
				u.ARN, action, resource, bad))
		}
	}
	if err := auth.Authorize(u, action, resource, policy); err != nil {
		return resource, wire.NewError(wire.NameAccessDenied, err.Error())
	}
	return resource, nil
}

// audit logs one request's outcome, if the server keeps an audit log.
func (c *conn) audit(action, resource, outcome string) {
	if c.srv.opts.Audit == nil {
		return
	}
	c.srv.opts.Audit.Log(auth.AuditEvent{
		Time: time.Now(), Identity: c.identity(), Action: action, Resource: resource,
		Door: "wire", Outcome: outcome, Remote: c.remote,
	})
}

// auditResult logs the outcome of a mutating request that was allowed: e
// is the error it was answered with, or nil.
func (c *conn) auditResult(op wire.Op, resource string, e *wire.Error) {
	if c.srv.opts.Audit == nil || !opMutates[op] {
		return
	}
	outcome := auth.OutcomeAllowed
	if e != nil {
		outcome = "error:" + e.Name
	}
	c.audit(opActions[op], resource, outcome)
}
