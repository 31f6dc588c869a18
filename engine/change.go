package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// Catalog changes of a replicated engine. Each public call that changes the
// catalog becomes a Change: its operation, its arguments and the proposer's
// clock. The Replica orders the changes (the cluster's controller group)
// and every node applies each one with ApplyChange, in the same order, to
// the same catalog: the same streams, incarnations and shards everywhere.
// The proposer's clock stands in for each node's own wherever a change
// records a time, so that the catalogs agree to the nanosecond.

// Change is one catalog change as it is replicated.
type Change struct {
	Op   string          `json:"op"`
	Now  int64           `json:"now"` // the proposer's clock, Unix ns
	Args json.RawMessage `json:"args"`

	index uint64 // its position in the replicated order, set by ApplyChange
}

// Catalog change operations.
const (
	opCreateStream       = "CreateStream"
	opDeleteStream       = "DeleteStream"
	opAddTags            = "AddTags"
	opRemoveTags         = "RemoveTags"
	opIncreaseRetention  = "IncreaseRetention"
	opDecreaseRetention  = "DecreaseRetention"
	opSetMonitoring      = "SetMonitoring"
	opSetMaxRecordSize   = "SetMaxRecordSize"
	opSetStreamMode      = "SetStreamMode"
	opSetQuotas          = "SetQuotas"
	opSetDurability      = "SetDurability"
	opSetPolicy          = "SetPolicy"
	opRegisterConsumer   = "RegisterConsumer"
	opDeregisterConsumer = "DeregisterConsumer"
)

// ChangeReplica is the part of a Replica that replicates catalog changes.
type ChangeReplica interface {
	// Change replicates c and returns what ApplyChange returned for it on
	// this node.
	Change(c *Change) (any, error)
}

type (
	streamArgs struct {
		Name string `json:"name"`
	}
	deleteArgs struct {
		Name    string `json:"name"`
		Enforce bool   `json:"enforce,omitempty"`
	}
	tagsArgs struct {
		Name string            `json:"name"`
		Tags map[string]string `json:"tags,omitempty"`
		Keys []string          `json:"keys,omitempty"`
	}
	hoursArgs struct {
		Name  string `json:"name"`
		Hours int    `json:"hours"`
	}
	monitoringArgs struct {
		Name    string   `json:"name"`
		Metrics []string `json:"metrics"`
		Enable  bool     `json:"enable"`
	}
	sizeArgs struct {
		Name  string `json:"name"`
		Bytes int    `json:"bytes"`
	}
	modeArgs struct {
		Name string         `json:"name"`
		Mode api.StreamMode `json:"mode"`
	}
	quotasArgs struct {
		Name   string            `json:"name"`
		Quotas *ratelimit.Limits `json:"quotas"`
	}
	durabilityArgs struct {
		Name       string         `json:"name"`
		Durability api.Durability `json:"durability"`
	}
	policyArgs struct {
		Name     string `json:"name"`
		Consumer string `json:"consumer,omitempty"`
		Policy   string `json:"policy"`
	}
	consumerArgs struct {
		Name     string            `json:"name"`
		Consumer string            `json:"consumer"`
		Tags     map[string]string `json:"tags,omitempty"`
	}
	monitoringResult struct {
		Before, After []string
	}
)

// change replicates a catalog change through the Replica.
func (e *Engine) change(op string, args any) (any, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return nil, &api.Error{Code: api.CodeInternal, Detail: "encode a catalog change", Err: err}
	}
	return e.opts.Replica.(ChangeReplica).Change(&Change{Op: op, Now: e.now().UnixNano(), Args: b})
}

// replicated reports whether catalog changes go through a Replica.
func (e *Engine) replicated() bool {
	_, ok := e.opts.Replica.(ChangeReplica)
	return ok
}

// ApplyChange applies a committed catalog change encoded by the Replica
// (JSON of a Change) and returns its result. index is the change's position
// in the replicated order: a change at or below the index the catalog
// records as applied is not applied again (it returns nil, nil), so a node
// that restarts and is handed changes it already applied is unaffected.
func (e *Engine) ApplyChange(index uint64, data []byte) (any, error) {
	var c Change
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, &api.Error{Code: api.CodeInternal, Detail: "decode a catalog change", Err: err}
	}
	e.mu.RLock()
	done := e.cat.Applied
	e.mu.RUnlock()
	if index <= done {
		return nil, nil
	}
	c.index = index
	res, err := e.applyChange(&c)
	if perr := e.recordApplied(index); perr != nil && err == nil {
		err = perr
	}
	return res, err
}

// AppliedChange is the index of the last catalog change this node applied.
func (e *Engine) AppliedChange() uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cat.Applied
}

// recordApplied persists the index of the last applied change.
func (e *Engine) recordApplied(index uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := *e.cat
	c.Applied = index
	if err := storeCatalog(e.fs, e.opts.Dir, &c); err != nil {
		return &api.Error{Code: api.CodeInternal, Detail: "persist catalog", Err: err}
	}
	e.cat = &c
	return nil
}

// decodeArgs decodes a change's arguments into v.
func decodeArgs(c *Change, v any) error {
	if err := json.Unmarshal(c.Args, v); err != nil {
		return &api.Error{Code: api.CodeInternal, Detail: "decode the arguments of catalog change " + c.Op, Err: err}
	}
	return nil
}

// applyChange applies a change to this node's catalog.
func (e *Engine) applyChange(c *Change) (any, error) {
	now := time.Unix(0, c.Now)
	switch c.Op {
	case opCreateStream:
		var in api.CreateStreamInput
		if err := decodeArgs(c, &in); err != nil {
			return nil, err
		}
		return e.createStream(in, now)
	case opDeleteStream:
		var a deleteArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		return nil, e.deleteStream(a.Name, a.Enforce)
	case opAddTags, opRemoveTags:
		var a tagsArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		if c.Op == opAddTags {
			return nil, e.addTags(a.Name, a.Tags)
		}
		return nil, e.removeTags(a.Name, a.Keys)
	case opIncreaseRetention, opDecreaseRetention:
		var a hoursArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		if c.Op == opIncreaseRetention {
			return nil, e.increaseRetention(a.Name, a.Hours)
		}
		return nil, e.decreaseRetention(a.Name, a.Hours)
	case opSetMonitoring:
		var a monitoringArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		before, after, err := e.setMonitoring(a.Name, a.Metrics, a.Enable)
		return monitoringResult{before, after}, err
	case opSetMaxRecordSize:
		var a sizeArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		return nil, e.setMaxRecordSize(a.Name, a.Bytes)
	case opSetStreamMode:
		var a modeArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		return nil, e.setStreamMode(a.Name, a.Mode)
	case opSetQuotas:
		var a quotasArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		return nil, e.setQuotas(a.Name, a.Quotas)
	case opSetDurability:
		var a durabilityArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		return nil, e.setDurability(a.Name, a.Durability)
	case opSetPolicy:
		var a policyArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		return nil, e.setPolicy(a.Name, a.Consumer, a.Policy)
	case opRegisterConsumer:
		var a consumerArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		return e.registerConsumer(a.Name, a.Consumer, a.Tags, now)
	case opDeregisterConsumer:
		var a consumerArgs
		if err := decodeArgs(c, &a); err != nil {
			return nil, err
		}
		return nil, e.deregisterConsumer(a.Name, a.Consumer)
	case opJoinGroup, opGroupHeartbeat, opCheckpointGroup, opLeaveGroup, opResetGroup, opDeleteGroup:
		return e.applyGroupChange(c)
	case opSetEncryption:
		return e.applyEncryption(c)
	}
	if res, ok, err := e.applyReshardChange(c); ok {
		return res, err
	}
	return nil, &api.Error{Code: api.CodeInternal, Detail: fmt.Sprintf("unknown catalog change %q", clip(c.Op))}
}

// result converts a change's result to T; a nil result (a change skipped
// as already applied) gives T's zero value.
func result[T any](v any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok && v != nil {
		return zero, &api.Error{Code: api.CodeInternal, Detail: fmt.Sprintf("catalog change returned %T, not %T", v, zero)}
	}
	return t, nil
}

// CreateStream creates a stream with its shards. The stream is ACTIVE when
// CreateStream returns.
func (e *Engine) CreateStream(in api.CreateStreamInput) (*api.StreamInfo, error) {
	if !e.replicated() {
		return e.createStream(in, e.now())
	}
	if err := checkStreamName(in.Name); err != nil {
		return nil, err
	}
	return result[*api.StreamInfo](e.change(opCreateStream, in))
}

// DeleteStream removes a stream and all its data. Readers holding views keep
// them valid until they release them. With consumers registered it fails
// unless enforceConsumerDeletion is set.
func (e *Engine) DeleteStream(name string, enforceConsumerDeletion bool) error {
	if !e.replicated() {
		return e.deleteStream(name, enforceConsumerDeletion)
	}
	_, err := e.change(opDeleteStream, deleteArgs{name, enforceConsumerDeletion})
	return err
}

// AddTags adds or overwrites tags of a stream.
func (e *Engine) AddTags(name string, tags map[string]string) error {
	if !e.replicated() {
		return e.addTags(name, tags)
	}
	_, err := e.change(opAddTags, tagsArgs{Name: name, Tags: tags})
	return err
}

// RemoveTags removes tags of a stream by key.
func (e *Engine) RemoveTags(name string, keys []string) error {
	if !e.replicated() {
		return e.removeTags(name, keys)
	}
	_, err := e.change(opRemoveTags, tagsArgs{Name: name, Keys: keys})
	return err
}

// IncreaseRetention raises a stream's retention period to hours.
func (e *Engine) IncreaseRetention(name string, hours int) error {
	if !e.replicated() {
		return e.increaseRetention(name, hours)
	}
	_, err := e.change(opIncreaseRetention, hoursArgs{name, hours})
	return err
}

// DecreaseRetention lowers a stream's retention period to hours.
func (e *Engine) DecreaseRetention(name string, hours int) error {
	if !e.replicated() {
		return e.decreaseRetention(name, hours)
	}
	_, err := e.change(opDecreaseRetention, hoursArgs{name, hours})
	return err
}

// SetMonitoring enables or disables shard-level metrics of a stream and
// returns the set before and after.
func (e *Engine) SetMonitoring(name string, metrics []string, enable bool) (before, after []string, err error) {
	if !e.replicated() {
		return e.setMonitoring(name, metrics, enable)
	}
	r, err := result[monitoringResult](e.change(opSetMonitoring, monitoringArgs{name, metrics, enable}))
	return r.Before, r.After, err
}

// SetMaxRecordSize sets the largest record (key + data) a stream takes.
func (e *Engine) SetMaxRecordSize(name string, bytes int) error {
	if !e.replicated() {
		return e.setMaxRecordSize(name, bytes)
	}
	_, err := e.change(opSetMaxRecordSize, sizeArgs{name, bytes})
	return err
}

// SetStreamMode switches a stream between PROVISIONED and ON_DEMAND.
func (e *Engine) SetStreamMode(name string, mode api.StreamMode) error {
	if !e.replicated() {
		return e.setStreamMode(name, mode)
	}
	_, err := e.change(opSetStreamMode, modeArgs{name, mode})
	return err
}

// SetQuotas sets a stream's per-shard limits (nil: the server default).
func (e *Engine) SetQuotas(name string, q *ratelimit.Limits) error {
	if !e.replicated() {
		return e.setQuotas(name, q)
	}
	_, err := e.change(opSetQuotas, quotasArgs{name, q})
	return err
}

// SetDurability sets a stream's acknowledgement mode.
func (e *Engine) SetDurability(name string, d api.Durability) error {
	if !e.replicated() {
		return e.setDurability(name, d)
	}
	_, err := e.change(opSetDurability, durabilityArgs{name, d})
	return err
}

// SetPolicy sets (or with "" removes) the resource policy of a stream, or
// of one of its consumers.
func (e *Engine) SetPolicy(name, consumer, policy string) error {
	if !e.replicated() {
		return e.setPolicy(name, consumer, policy)
	}
	_, err := e.change(opSetPolicy, policyArgs{name, consumer, policy})
	return err
}

// RegisterConsumer registers an enhanced fan-out consumer of a stream.
func (e *Engine) RegisterConsumer(name, consumer string, tags map[string]string) (api.ConsumerInfo, error) {
	if !e.replicated() {
		return e.registerConsumer(name, consumer, tags, e.now())
	}
	return result[api.ConsumerInfo](e.change(opRegisterConsumer, consumerArgs{name, consumer, tags}))
}

// DeregisterConsumer removes an enhanced fan-out consumer of a stream.
func (e *Engine) DeregisterConsumer(name, consumer string) error {
	if !e.replicated() {
		return e.deregisterConsumer(name, consumer)
	}
	_, err := e.change(opDeregisterConsumer, consumerArgs{Name: name, Consumer: consumer})
	return err
}

// notReplicated refuses, on a replica of a cluster, an operation whose
// changes are not yet ordered through the cluster: applied on one node only,
// it would leave the replicas' catalogs or shards different.
func (e *Engine) notReplicated(op string) error {
	if e.opts.Replica == nil {
		return nil
	}
	return errorf(api.CodeInvalidArgument, "%s is not available on a cluster yet; it is on a single node", op)
}
