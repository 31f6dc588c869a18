package kinesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
)

// Consumer groups on the HTTP door: the operations of sluice's consumer
// groups (see docs/groups.md), as JSON under their own X-Amz-Target prefix,
// so that a worker in any language can join a group with an ordinary HTTP
// client (signed with SigV4 like any Kinesis request when the server
// authenticates). They take and answer application/x-amz-json-1.1 only.

// GroupsTargetPrefix is the service part of the X-Amz-Target header of the
// group operations ("SluiceGroups_20261201.JoinGroup").
const GroupsTargetPrefix = "SluiceGroups_20261201."

// groupOp is one group operation: its IAM action, whether it changes
// something (audited), a constructor of its input and the operation.
type groupOp struct {
	action  string
	mutates bool
	input   func() groupInput
}

// groupInput is a decoded request: it names its stream, checks itself and
// runs.
type groupInput interface {
	stream() string
	check() error
	run(eng *engine.Engine) (any, error)
}

var groupOps = map[string]groupOp{
	"JoinGroup":       {auth.ActionJoinGroup, true, func() groupInput { return new(JoinGroupInput) }},
	"GroupHeartbeat":  {auth.ActionJoinGroup, false, func() groupInput { return new(GroupMemberInput) }},
	"LeaveGroup":      {auth.ActionJoinGroup, true, func() groupInput { return &GroupMemberInput{leave: true} }},
	"CheckpointGroup": {auth.ActionCheckpointGroup, true, func() groupInput { return new(CheckpointGroupInput) }},
	"ListGroups":      {auth.ActionListGroups, false, func() groupInput { return new(ListGroupsInput) }},
	"DescribeGroup":   {auth.ActionDescribeGroup, false, func() groupInput { return new(GroupInput) }},
	"ResetGroup":      {auth.ActionResetGroup, true, func() groupInput { return new(ResetGroupInput) }},
	"DeleteGroup":     {auth.ActionDeleteGroup, true, func() groupInput { return &GroupInput{delete: true} }},
}

// groupValidation is a ValidationException in AWS's words for one member.
func groupValidation(member, value, constraint string) error {
	return Errorf(CodeValidation, "1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

func requireString(member, v string) error {
	if v == "" {
		return groupValidation(member, "null", "Member must not be null")
	}
	return nil
}

// JoinGroupInput is the request of JoinGroup.
type JoinGroupInput struct {
	StreamName, GroupName, MemberName string
	// FailoverTimeMillis: 0 keeps the group's (10,000 for a new group).
	FailoverTimeMillis int64
	StartAtLatest      bool
}

func (in *JoinGroupInput) stream() string { return in.StreamName }
func (in *JoinGroupInput) check() error {
	if err := errors.Join(requireString("streamName", in.StreamName), requireString("groupName", in.GroupName),
		requireString("memberName", in.MemberName)); err != nil {
		return firstError(err)
	}
	if in.FailoverTimeMillis < 0 || in.FailoverTimeMillis > int64(engine.MaxFailoverTime/time.Millisecond) {
		return groupValidation("failoverTimeMillis", fmt.Sprint(in.FailoverTimeMillis),
			fmt.Sprintf("Member must have value between %d and %d (0 for the group's)", engine.MinFailoverTime/time.Millisecond, engine.MaxFailoverTime/time.Millisecond))
	}
	return nil
}
func (in *JoinGroupInput) run(eng *engine.Engine) (any, error) {
	a, err := eng.JoinGroup(in.StreamName, in.GroupName, in.MemberName, engine.GroupOptions{
		FailoverTime: time.Duration(in.FailoverTimeMillis) * time.Millisecond, StartAtLatest: in.StartAtLatest})
	if err != nil {
		return nil, err
	}
	return assignmentOutput(a), nil
}

// firstError returns the first of a joined error.
func firstError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()[0]
	}
	return err
}

// GroupMemberInput is the request of GroupHeartbeat and LeaveGroup.
type GroupMemberInput struct {
	StreamName, GroupName, MemberName string
	leave                             bool
}

func (in *GroupMemberInput) stream() string { return in.StreamName }
func (in *GroupMemberInput) check() error {
	return firstError(errors.Join(requireString("streamName", in.StreamName), requireString("groupName", in.GroupName),
		requireString("memberName", in.MemberName)))
}
func (in *GroupMemberInput) run(eng *engine.Engine) (any, error) {
	if in.leave {
		return nil, eng.LeaveGroup(in.StreamName, in.GroupName, in.MemberName)
	}
	a, err := eng.GroupHeartbeat(in.StreamName, in.GroupName, in.MemberName)
	if err != nil {
		return nil, err
	}
	return assignmentOutput(a), nil
}

// GroupCheckpointShape is a checkpoint in JSON.
type GroupCheckpointShape struct {
	SequenceNumber    string `json:",omitempty"`
	SubSequenceNumber uint64
	Whole             bool
	ShardEnd          bool
}

// GroupLeaseShape is a lease in a JoinGroup or GroupHeartbeat response.
type GroupLeaseShape struct {
	ShardId    string
	Epoch      uint64
	Checkpoint GroupCheckpointShape
	Release    bool
	// ReleaseBy is when a lease asked back is taken (epoch seconds).
	ReleaseBy float64 `json:",omitempty"`
}

// GroupAssignmentOutput is the response of JoinGroup and GroupHeartbeat.
type GroupAssignmentOutput struct {
	FailoverTimeMillis      int64
	HeartbeatIntervalMillis int64
	Leases                  []GroupLeaseShape
}

func epochSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return math.Round(float64(t.UnixMilli())) / 1000
}

func assignmentOutput(a engine.GroupAssignment) *GroupAssignmentOutput {
	out := &GroupAssignmentOutput{FailoverTimeMillis: a.FailoverTime.Milliseconds(),
		HeartbeatIntervalMillis: a.HeartbeatInterval.Milliseconds(), Leases: []GroupLeaseShape{}}
	for _, l := range a.Leases {
		out.Leases = append(out.Leases, GroupLeaseShape{ShardId: l.Shard, Epoch: l.Epoch, Checkpoint: checkpointShape(l.Checkpoint),
			Release: l.Release, ReleaseBy: epochSeconds(l.ReleaseBy)})
	}
	return out
}

func checkpointShape(c engine.GroupCheckpoint) GroupCheckpointShape {
	return GroupCheckpointShape{SequenceNumber: c.Seq, SubSequenceNumber: c.SubSeq, Whole: c.Whole, ShardEnd: c.ShardEnd}
}

// CheckpointGroupInput is the request of CheckpointGroup.
type CheckpointGroupInput struct {
	StreamName, GroupName, MemberName, ShardId string
	Epoch                                      uint64
	SequenceNumber                             string
	SubSequenceNumber                          uint64
	Whole, ShardEnd, Release                   bool
}

func (in *CheckpointGroupInput) stream() string { return in.StreamName }
func (in *CheckpointGroupInput) check() error {
	if err := firstError(errors.Join(requireString("streamName", in.StreamName), requireString("groupName", in.GroupName),
		requireString("memberName", in.MemberName), requireString("shardId", in.ShardId))); err != nil {
		return err
	}
	if in.Epoch == 0 {
		return groupValidation("epoch", "null", "Member must not be null (the lease's epoch from JoinGroup or GroupHeartbeat)")
	}
	return nil
}
func (in *CheckpointGroupInput) run(eng *engine.Engine) (any, error) {
	return nil, eng.CheckpointGroup(in.StreamName, in.GroupName, engine.GroupCheckpointInput{
		Member: in.MemberName, Shard: in.ShardId, Epoch: in.Epoch, Release: in.Release,
		Checkpoint: engine.GroupCheckpoint{Seq: in.SequenceNumber, SubSeq: in.SubSequenceNumber, Whole: in.Whole, ShardEnd: in.ShardEnd}})
}

// ListGroupsInput is the request of ListGroups.
type ListGroupsInput struct{ StreamName string }

// ListGroupsOutput is the response of ListGroups.
type ListGroupsOutput struct{ GroupNames []string }

func (in *ListGroupsInput) stream() string { return in.StreamName }
func (in *ListGroupsInput) check() error   { return requireString("streamName", in.StreamName) }
func (in *ListGroupsInput) run(eng *engine.Engine) (any, error) {
	l, err := eng.ListGroups(in.StreamName)
	if err != nil {
		return nil, err
	}
	return &ListGroupsOutput{GroupNames: l}, nil
}

// GroupInput is the request of DescribeGroup and DeleteGroup.
type GroupInput struct {
	StreamName, GroupName string
	delete                bool
}

func (in *GroupInput) stream() string { return in.StreamName }
func (in *GroupInput) check() error {
	return firstError(errors.Join(requireString("streamName", in.StreamName), requireString("groupName", in.GroupName)))
}
func (in *GroupInput) run(eng *engine.Engine) (any, error) {
	if in.delete {
		return nil, eng.DeleteGroup(in.StreamName, in.GroupName)
	}
	info, err := eng.DescribeGroup(in.StreamName, in.GroupName)
	if err != nil {
		return nil, err
	}
	out := &DescribeGroupOutput{GroupName: info.Name, FailoverTimeMillis: info.FailoverTime.Milliseconds(),
		CreationTimestamp: epochSeconds(info.Created), LeaseMoves: info.LeaseMoves, FencedCheckpoints: info.FencedCheckpoints,
		Members: []GroupMemberShape{}, Shards: []GroupShardShape{}}
	for _, m := range info.Members {
		out.Members = append(out.Members, GroupMemberShape{MemberName: m.Name, LastHeartbeat: epochSeconds(m.LastHeartbeat), Leases: m.Leases})
	}
	for _, s := range info.Shards {
		out.Shards = append(out.Shards, GroupShardShape{ShardId: s.Shard, Owner: s.Owner, Epoch: s.Epoch, Releasing: s.Releasing,
			Checkpoint: checkpointShape(s.Checkpoint), Closed: s.Closed, WaitingForParent: s.Waiting,
			LagRecords: s.LagRecords, LagMillis: s.LagMillis})
	}
	return out, nil
}

// GroupMemberShape is a member in a DescribeGroup response.
type GroupMemberShape struct {
	MemberName    string
	LastHeartbeat float64
	Leases        int
}

// GroupShardShape is a shard in a DescribeGroup response.
type GroupShardShape struct {
	ShardId                  string
	Owner                    string `json:",omitempty"`
	Epoch                    uint64
	Releasing                bool
	Checkpoint               GroupCheckpointShape
	Closed, WaitingForParent bool
	LagRecords, LagMillis    int64
}

// DescribeGroupOutput is the response of DescribeGroup.
type DescribeGroupOutput struct {
	GroupName                     string
	FailoverTimeMillis            int64
	CreationTimestamp             float64
	LeaseMoves, FencedCheckpoints uint64
	Members                       []GroupMemberShape
	Shards                        []GroupShardShape
}

// ResetGroupInput is the request of ResetGroup.
type ResetGroupInput struct {
	StreamName, GroupName string
	// To is TRIM_HORIZON, LATEST, AT_TIMESTAMP (Timestamp, epoch seconds)
	// or AT_SEQUENCE_NUMBER (SequenceNumber).
	To             string
	Timestamp      float64
	SequenceNumber string
}

func (in *ResetGroupInput) stream() string { return in.StreamName }
func (in *ResetGroupInput) check() error {
	if err := firstError(errors.Join(requireString("streamName", in.StreamName), requireString("groupName", in.GroupName),
		requireString("to", in.To))); err != nil {
		return err
	}
	switch api.IteratorType(in.To) {
	case api.TrimHorizon, api.Latest:
	case api.AtTimestamp:
		if in.Timestamp <= 0 {
			return groupValidation("timestamp", "null", "Member must not be null for AT_TIMESTAMP")
		}
	case api.AtSequenceNumber:
		return requireString("sequenceNumber", in.SequenceNumber)
	default:
		return groupValidation("to", fmt.Sprintf("'%s'", api.Clip(in.To)), "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER]")
	}
	return nil
}
func (in *ResetGroupInput) run(eng *engine.Engine) (any, error) {
	sec, frac := math.Modf(in.Timestamp)
	return nil, eng.ResetGroup(in.StreamName, in.GroupName, engine.GroupReset{To: api.IteratorType(in.To),
		Time: time.Unix(int64(sec), int64(frac*1e9)), Seq: in.SequenceNumber})
}

// serveGroups answers a request whose X-Amz-Target names a group
// operation: the checks of ServeHTTP in the same order (operation,
// authentication, body, syntax, constraints, authorization), then the
// operation.
func (h *Handler) serveGroups(w http.ResponseWriter, r *http.Request, f Format, name string) {
	op, ok := groupOps[name]
	if !ok {
		WriteError(w, f, &Error{Code: CodeUnknownOperation, Status: CodeUnknownOperation.Status(),
			Message: fmt.Sprintf("%s%s is not a group operation; they are JoinGroup, GroupHeartbeat, CheckpointGroup, LeaveGroup, ListGroups, DescribeGroup, ResetGroup, DeleteGroup", GroupsTargetPrefix, api.Clip(name))})
		return
	}
	if f != FormatJSON {
		WriteError(w, f, &Error{Code: CodeUnknownOperation, Status: http.StatusNotFound,
			Message: "the group operations take Content-Type application/x-amz-json-1.1"})
		return
	}
	st := h.getState()
	defer h.putState(st)
	signer, err := h.authenticate(r, st)
	if err != nil {
		WriteError(w, f, err)
		st.unauthenticated = true
		h.auditGroup(r, op, st, err)
		return
	}
	if h.testHookUser != nil {
		st.user = h.testHookUser(r)
	}
	err = h.groupRequest(w, r, st, signer)
	if err == nil {
		var out any
		in := op.input()
		if err = decodeGroupInput(st.body, in); err == nil {
			if err = in.check(); err == nil {
				if err = h.allowGroup(st, op.action, in.stream()); err == nil {
					out, err = in.run(h.eng)
				}
			}
		}
		if err == nil {
			var body []byte
			if out != nil {
				body, err = json.Marshal(out)
			}
			if err == nil {
				writeOK(w, f, body)
			}
		}
	}
	if err != nil {
		h.fail(w, f, err)
	}
	h.auditGroup(r, op, st, err)
}

// groupRequest reads the body of a group request within the body timeout
// and verifies its signature; then the response gets the write timeout.
func (h *Handler) groupRequest(w http.ResponseWriter, r *http.Request, st *reqState, signer *auth.User) error {
	limit := h.opts.MaxControlBodyBytes
	if err := h.reserveBody(r, st, limit); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	setDeadline(rc.SetReadDeadline, h.opts.BodyTimeout)
	if err := st.readBody(r, limit, h.testHookBodyRead); err != nil {
		w.Header().Set("Connection", "close")
		return err
	}
	setDeadline(rc.SetReadDeadline, -1)
	if err := h.verifySignature(r, st, signer); err != nil {
		st.unauthenticated = true
		return err
	}
	setDeadline(rc.SetWriteDeadline, h.opts.WriteTimeout)
	return nil
}

// decodeGroupInput decodes a JSON body strictly: unknown members and
// trailing data are refused as SerializationException.
func decodeGroupInput(body []byte, in any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(in); err != nil {
		return Errorf(CodeSerialization, "the request body is not a valid group request: %v", err)
	}
	if d.More() {
		return Errorf(CodeSerialization, "the request body holds more than one JSON value")
	}
	return nil
}

// allowGroup judges action on stream name for the request's user, with
// the stream's resource policy, and notes the resource for the audit log.
func (h *Handler) allowGroup(st *reqState, action, name string) error {
	if !h.guarding() {
		return nil
	}
	f := h.factsOf(name)
	arn := h.streamARNOf(f, name)
	st.resource = arn
	if !h.authzOn() {
		return nil
	}
	if st.user == nil {
		st.denied = true
		return Errorf(CodeMissingAuthenticationToken, "Missing Authentication Token")
	}
	var rp *auth.Policy
	if pol := h.streamPolicy(f, name); pol != nil {
		if pol.err != nil {
			st.denied = true
			return Errorf(CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s because the resource policy stored for it is not valid (%v); replace it with PutResourcePolicy or remove it with DeleteResourcePolicy",
				st.user.ARN, action, arn, pol.err)
		}
		rp = pol.policy
	}
	if err := auth.Authorize(st.user, action, arn, rp); err != nil {
		st.denied = true
		return &Error{Code: CodeAccessDenied, Message: err.Error(), Status: CodeAccessDenied.Status()}
	}
	return nil
}

// auditGroup records a group request as audit does a Kinesis one.
func (h *Handler) auditGroup(r *http.Request, op groupOp, st *reqState, err error) {
	a := h.opts.Audit
	if a == nil || !(op.mutates || st.denied || st.unauthenticated) {
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
	a.Log(auth.AuditEvent{Time: h.now(), Identity: identity, Action: op.action, Resource: st.resource,
		Door: "http", Outcome: outcome, Remote: r.RemoteAddr})
}

// groupTarget returns the operation name of a group target.
func groupTarget(target string) (string, bool) {
	return strings.CutPrefix(target, GroupsTargetPrefix)
}
